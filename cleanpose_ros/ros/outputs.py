"""PoseEstimate -> output messages: Detection3DArray, TFMessage, MarkerArray, PointCloud2.

All builders take the stamp and frame id of the INPUT frame: outputs describe the scene at the
moment the camera saw it, never at `now()`, so consumers can look up TF at the right time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, TransformStamped
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from ..core.geometry import BOX_EDGES, box_corners, rotation_to_quaternion
from ..core.types import PoseEstimate
from .converters import ns_to_stamp

#: One colour per NOCS category (RGBA, 0..1), unknown categories get grey.
CATEGORY_COLORS: dict[str, tuple[float, float, float, float]] = {
    "bottle": (0.12, 0.47, 0.71, 1.0),
    "bowl": (1.0, 0.50, 0.05, 1.0),
    "camera": (0.17, 0.63, 0.17, 1.0),
    "can": (0.84, 0.15, 0.16, 1.0),
    "laptop": (0.58, 0.40, 0.74, 1.0),
    "mug": (0.89, 0.47, 0.76, 1.0),
}
_GREY = (0.6, 0.6, 0.6, 1.0)
_AXIS_COLORS = ((1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0))  # x red, y green, z blue

MARKER_NAMESPACES = ("box", "axes", "label")


def _header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


def pose_message(pose: PoseEstimate) -> Pose:
    """Box centre and canonical->camera rotation as a geometry_msgs/Pose."""
    msg = Pose()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in pose.translation)
    q = rotation_to_quaternion(pose.rotation)
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in q)
    return msg


def detection_array(poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> Detection3DArray:
    """One Detection3D per pose: id = instance id, hypothesis = (category, score), bbox = metric box."""
    out = Detection3DArray(header=_header(stamp_ns, frame_id))
    for p in poses:
        det = Detection3D(header=_header(stamp_ns, frame_id), id=str(p.instance_id))
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = p.category
        hyp.hypothesis.score = float(p.score)
        hyp.pose.pose = pose_message(p)
        det.results.append(hyp)
        det.bbox.center = pose_message(p)
        det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (float(v) for v in p.size)
        out.detections.append(det)
    return out


def tf_child_frame(prefix: str, pose: PoseEstimate) -> str:
    """`<prefix><category>_<instance id>`, e.g. 'cleanpose/mug_3'."""
    return f"{prefix}{pose.category}_{pose.instance_id}"


def tf_message(poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str, prefix: str) -> TFMessage:
    """One transform per object, child of the camera frame; rotation only (TF has no scale)."""
    out = TFMessage()
    for p in poses:
        t = TransformStamped(header=_header(stamp_ns, frame_id), child_frame_id=tf_child_frame(prefix, p))
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in p.translation)
        q = rotation_to_quaternion(p.rotation)
        t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = (float(v) for v in q)
        out.transforms.append(t)
    return out


def _point(xyz: np.ndarray) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def _rgba(c: tuple[float, float, float, float]) -> ColorRGBA:
    return ColorRGBA(r=c[0], g=c[1], b=c[2], a=c[3])


@dataclass(frozen=True)
class MarkerStyle:
    line_width_m: float = 0.004
    text_height_m: float = 0.025
    axis_length_ratio: float = 0.6  # axis length as a fraction of the largest box extent
    lifetime_s: float = 0.0  # 0 = until deleted (vanished objects are deleted explicitly)


class MarkerTracker:
    """Builds MarkerArrays and remembers what it drew, so vanished objects get DELETE markers.

    Markers are drawn in the object's own frame (marker pose = object pose), which keeps the
    box corners exact and lets RViz apply the transform.
    """

    def __init__(self, style: MarkerStyle = MarkerStyle()) -> None:
        self.style = style
        self._live: set[tuple[str, int]] = set()

    def build(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> MarkerArray:
        out = MarkerArray()
        now_live: set[tuple[str, int]] = set()
        for p in poses:
            for marker in self._object_markers(p, stamp_ns, frame_id):
                out.markers.append(marker)
                now_live.add((marker.ns, marker.id))
        for ns, marker_id in sorted(self._live - now_live):
            out.markers.append(Marker(header=_header(stamp_ns, frame_id), ns=ns, id=marker_id, action=Marker.DELETE))
        self._live = now_live
        return out

    def _base(self, ns: str, p: PoseEstimate, stamp_ns: int, frame_id: str, marker_type: int) -> Marker:
        m = Marker(header=_header(stamp_ns, frame_id), ns=ns, id=int(p.instance_id), type=marker_type,
                   action=Marker.ADD, pose=pose_message(p))
        m.lifetime = Duration(sec=int(self.style.lifetime_s), nanosec=int((self.style.lifetime_s % 1.0) * 1e9))
        m.color = _rgba(CATEGORY_COLORS.get(p.category, _GREY))
        return m

    def _object_markers(self, p: PoseEstimate, stamp_ns: int, frame_id: str) -> list[Marker]:
        size = np.asarray(p.size, dtype=np.float64)
        box = self._base("box", p, stamp_ns, frame_id, Marker.LINE_LIST)
        box.scale.x = self.style.line_width_m
        corners = box_corners(size)
        for i, j in BOX_EDGES:
            box.points.extend([_point(corners[i]), _point(corners[j])])

        axes = self._base("axes", p, stamp_ns, frame_id, Marker.LINE_LIST)
        axes.scale.x = self.style.line_width_m
        length = self.style.axis_length_ratio * float(size.max())
        for axis in range(3):
            tip = np.zeros(3)
            tip[axis] = length
            axes.points.extend([_point(np.zeros(3)), _point(tip)])
            axes.colors.extend([_rgba(_AXIS_COLORS[axis])] * 2)

        label = self._base("label", p, stamp_ns, frame_id, Marker.TEXT_VIEW_FACING)
        # Canonical +y is the object's up: put the text just above the box.
        label.pose.position = _point(np.asarray(p.translation) + p.rotation @ np.array([0.0, size[1] / 2 + 0.02, 0.0]))
        label.scale.z = self.style.text_height_m
        label.text = f"{p.category} {p.score:.2f}"
        label.color = _rgba((1.0, 1.0, 1.0, 1.0))
        return [box, axes, label]


def object_points_cloud(points_per_object: Sequence[tuple[int, np.ndarray]], stamp_ns: int, frame_id: str
                        ) -> PointCloud2:
    """Sampled object points (camera frame, metres) as an unorganised cloud with x, y, z, instance (float32)."""
    chunks = [np.concatenate([np.asarray(pts, np.float32).reshape(-1, 3),
                              np.full((len(pts), 1), float(iid), np.float32)], axis=1)
              for iid, pts in points_per_object]
    data = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, 4), np.float32)
    msg = PointCloud2(header=_header(stamp_ns, frame_id))
    msg.height, msg.width = 1, int(data.shape[0])
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate(("x", "y", "z", "instance"))]
    msg.is_bigendian = False
    msg.point_step = 16
    msg.row_step = 16 * msg.width
    msg.is_dense = True
    msg.data = data.astype("<f4").tobytes()
    return msg

