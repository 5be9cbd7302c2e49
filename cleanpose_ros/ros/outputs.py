"""PoseEstimate -> output messages: Detection3DArray, TFMessage, MarkerArray, PointCloud2.

All builders take the stamp and frame id of the INPUT frame: outputs describe the scene at the
moment the camera saw it, never at `now()`, so consumers can look up TF at the right time.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, TransformStamped
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from ..core.types import PoseEstimate
from ..interop.converters import ns_to_stamp
# Colours, TF names and marker shapes live in output_spec (shared with the rosbag tools);
# re-exported here for the callers that know them from this module.
from ..interop.output_spec import (CATEGORY_COLORS, MARKER_NAMESPACES, LiveMarkers, MarkerSpec, MarkerStyle,  # noqa: F401
                          object_markers, pose_quaternion, tf_child_frame)


def _header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


def pose_message(pose: PoseEstimate) -> Pose:
    """Box centre and canonical->camera rotation as a geometry_msgs/Pose."""
    msg = Pose()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in pose.translation)
    q = pose_quaternion(pose)
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in q)
    return msg


def detection_array(poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> Detection3DArray:
    """One Detection3D per pose: id = instance id, hypothesis = (category, score, pose with its covariance
    when the pose has one), bbox = metric box."""
    out = Detection3DArray(header=_header(stamp_ns, frame_id))
    for p in poses:
        det = Detection3D(header=_header(stamp_ns, frame_id), id=str(p.instance_id))
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = p.category
        hyp.hypothesis.score = float(p.score)
        pose = pose_message(p)
        hyp.pose.pose = pose
        if p.covariance is not None:  # row-major 6x6 (x, y, z, rot x, rot y, rot z); all zero = not estimated
            hyp.pose.covariance = np.asarray(p.covariance, np.float64).ravel().tolist()
        det.results.append(hyp)
        det.bbox.center = pose  # the same values: one conversion (messages are serialised by value)
        det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (float(v) for v in p.size)
        out.detections.append(det)
    return out


def tf_message(poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str, prefix: str) -> TFMessage:
    """One transform per object, child of the camera frame; rotation only (TF has no scale)."""
    out = TFMessage()
    for p in poses:
        t = TransformStamped(header=_header(stamp_ns, frame_id), child_frame_id=tf_child_frame(prefix, p))
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in p.translation)
        q = pose_quaternion(p)
        t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = (float(v) for v in q)
        out.transforms.append(t)
    return out


def _point(xyz: np.ndarray) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def _rgba(c: Sequence[float]) -> ColorRGBA:
    return ColorRGBA(r=c[0], g=c[1], b=c[2], a=c[3])


class MarkerTracker:
    """Builds MarkerArrays and remembers what it drew, so vanished objects get DELETE markers."""

    def __init__(self, style: MarkerStyle = MarkerStyle()) -> None:
        self.style = style
        self._live = LiveMarkers()
        self._first = True

    def reset(self) -> None:
        """Forget what was drawn (nobody is watching): the next array starts with a DELETEALL again."""
        self._live = LiveMarkers()
        self._first = True

    def build(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str,
              delivered: bool = True) -> MarkerArray:
        """Markers of `poses` plus DELETE for objects gone since the last call. The first delivered array
        also starts with a DELETEALL (empty namespace: every marker of the topic), so markers a previous
        run of the node drew for objects that vanished meanwhile do not stay in RViz forever.
        `delivered` says whether this array reaches a subscriber (the publisher has one matched): until
        one does, every array keeps the DELETEALL, since arrays sent before discovery are lost."""
        specs = [spec for p in poses for spec in object_markers(p, self.style)]
        out = MarkerArray()
        if self._first:
            out.markers.append(Marker(header=_header(stamp_ns, frame_id), ns="", id=0, action=Marker.DELETEALL))
            self._first = not delivered
        out.markers.extend(self._marker(spec, stamp_ns, frame_id) for spec in specs)
        for ns, marker_id in self._live.update(specs):
            out.markers.append(Marker(header=_header(stamp_ns, frame_id), ns=ns, id=marker_id, action=Marker.DELETE))
        return out

    def _marker(self, spec: MarkerSpec, stamp_ns: int, frame_id: str) -> Marker:
        m = Marker(header=_header(stamp_ns, frame_id), ns=spec.ns, id=spec.marker_id, type=spec.marker_type,
                   action=Marker.ADD)
        m.pose.position = _point(spec.position)
        m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z, m.pose.orientation.w = (
            float(v) for v in spec.orientation)
        m.scale.x, m.scale.y, m.scale.z = spec.scale
        m.lifetime = Duration(sec=int(self.style.lifetime_s), nanosec=int((self.style.lifetime_s % 1.0) * 1e9))
        m.color = _rgba(spec.color)
        # plain floats first: indexing numpy rows per coordinate costs more than building the Point
        m.points = [Point(x=x, y=y, z=z) for x, y, z in np.asarray(spec.points, np.float64).reshape(-1, 3).tolist()]
        m.colors = [_rgba(c) for c in spec.point_colors]
        m.text = spec.text
        return m


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

