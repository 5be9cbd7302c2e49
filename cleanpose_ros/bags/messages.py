"""rosbags message objects for the bag tools: the node's inputs and its outputs.

Outputs follow interop/output_spec.py (colours, TF child frame names, marker shapes, DELETE of
vanished objects), the same source the node's rclpy builders use, so a replayed bag shows what
the node would have published. Pixel layouts follow interop/converters.py PIXEL_FORMATS.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from rosbags.typesys.store import Typestore

from ..core.types import CameraIntrinsics, PoseEstimate
from ..interop.converters import PIXEL_FORMATS
from ..interop.output_spec import (MARKER_ADD, MARKER_DELETE, MARKER_DELETEALL, LiveMarkers, MarkerSpec, MarkerStyle, object_markers,
                               pose_quaternion, tf_child_frame)

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION2D_ARRAY = "vision_msgs/msg/Detection2DArray"
DETECTION3D_ARRAY = "vision_msgs/msg/Detection3DArray"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"
STRING = "std_msgs/msg/String"


class MessageBuilder:
    """Builds messages of one typestore (see typestore.build_typestore)."""

    def __init__(self, store: Typestore) -> None:
        self.store = store
        self._types = store.types

    def _t(self, msgtype: str) -> Any:
        return self._types[msgtype]

    # ------------------------------------------------------------------ common parts
    def time(self, stamp_ns: int) -> Any:
        return self._t("builtin_interfaces/msg/Time")(sec=int(stamp_ns // 1_000_000_000),
                                                      nanosec=int(stamp_ns % 1_000_000_000))

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        return self._t("std_msgs/msg/Header")(stamp=self.time(stamp_ns), frame_id=frame_id)

    def point(self, xyz: Sequence[float]) -> Any:
        return self._t("geometry_msgs/msg/Point")(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))

    def quaternion(self, q: Sequence[float]) -> Any:
        return self._t("geometry_msgs/msg/Quaternion")(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))

    def pose(self, position: Sequence[float], q: Sequence[float]) -> Any:
        return self._t("geometry_msgs/msg/Pose")(position=self.point(position), orientation=self.quaternion(q))

    def color(self, rgba: Sequence[float]) -> Any:
        return self._t("std_msgs/msg/ColorRGBA")(r=float(rgba[0]), g=float(rgba[1]), b=float(rgba[2]), a=float(rgba[3]))

    def vector3(self, xyz: Sequence[float]) -> Any:
        return self._t("geometry_msgs/msg/Vector3")(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))

    # ------------------------------------------------------------------ inputs
    def image(self, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
        """Little-endian, unpadded rows (what cameras and cv_bridge publish)."""
        fmt = PIXEL_FORMATS[encoding]
        arr = np.asarray(array)
        h, w = arr.shape[:2]
        rows = np.ascontiguousarray(arr.astype(fmt.dtype.newbyteorder("<"), copy=False)).view(np.uint8).reshape(h, -1)
        return self._t(IMAGE)(header=self.header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
                              is_bigendian=0, step=int(rows.shape[1]), data=rows.reshape(-1))

    def camera_info(self, intrinsics: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
        """Rectified pinhole camera: K = the intrinsics, no distortion, P = [K | 0]."""
        k = intrinsics.matrix
        p = np.zeros((3, 4))
        p[:, :3] = k
        return self._t(CAMERA_INFO)(
            header=self.header(stamp_ns, frame_id), height=intrinsics.height, width=intrinsics.width,
            distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1).astype(np.float64),
            r=np.eye(3).reshape(-1), p=p.reshape(-1), binning_x=0, binning_y=0,
            roi=self._t("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    def detection2d_array(self, detections: Sequence[tuple[int, str, float, np.ndarray]], stamp_ns: int,
                          frame_id: str) -> Any:
        """(instance id = mask value, category name, score, mask) -> Detection2DArray; the 2D box
        is the mask's bounding box (centre and size in pixels)."""
        out = []
        for instance_id, category, score, mask in detections:
            ys, xs = np.nonzero(mask)
            if len(xs):
                cx, cy = (xs.min() + xs.max() + 1) / 2.0, (ys.min() + ys.max() + 1) / 2.0
                sx, sy = float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())
            else:
                cx = cy = sx = sy = 0.0
            bbox = self._t("vision_msgs/msg/BoundingBox2D")(
                center=self._t("vision_msgs/msg/Pose2D")(position=self._t("vision_msgs/msg/Point2D")(x=float(cx), y=float(cy)),
                                                         theta=0.0),
                size_x=sx, size_y=sy)
            hyp = self._hypothesis(category, score, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
            out.append(self._t("vision_msgs/msg/Detection2D")(header=self.header(stamp_ns, frame_id), results=[hyp],
                                                              bbox=bbox, id=str(int(instance_id))))
        return self._t(DETECTION2D_ARRAY)(header=self.header(stamp_ns, frame_id), detections=out)

    def string(self, text: str) -> Any:
        return self._t(STRING)(data=text)

    # ------------------------------------------------------------------ outputs
    def _hypothesis(self, class_id: str, score: float, position: Sequence[float], q: Sequence[float],
                    covariance: np.ndarray | None = None) -> Any:
        cov = np.zeros(36) if covariance is None else np.asarray(covariance, np.float64).ravel()
        return self._t("vision_msgs/msg/ObjectHypothesisWithPose")(
            hypothesis=self._t("vision_msgs/msg/ObjectHypothesis")(class_id=class_id, score=float(score)),
            pose=self._t("geometry_msgs/msg/PoseWithCovariance")(pose=self.pose(position, q), covariance=cov))

    def detection3d(self, instance_id: int, category: str, score: float, rotation_q: Sequence[float],
                    translation: Sequence[float], size: Sequence[float], stamp_ns: int, frame_id: str,
                    covariance: np.ndarray | None = None) -> Any:
        """id = instance id, one hypothesis (category, score, pose), bbox = the metric box."""
        bbox = self._t("vision_msgs/msg/BoundingBox3D")(center=self.pose(translation, rotation_q), size=self.vector3(size))
        return self._t("vision_msgs/msg/Detection3D")(
            header=self.header(stamp_ns, frame_id), results=[self._hypothesis(category, score, translation, rotation_q, covariance)],
            bbox=bbox, id=str(int(instance_id)))

    def detection3d_array(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> Any:
        """The node's pose_estimation/detections message (ros/outputs.py detection_array)."""
        dets = [self.detection3d(p.instance_id, p.category, p.score, pose_quaternion(p), p.translation, p.size,
                                 stamp_ns, frame_id, p.covariance) for p in poses]
        return self._t(DETECTION3D_ARRAY)(header=self.header(stamp_ns, frame_id), detections=dets)

    def tf_message(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str, prefix: str) -> Any:
        transforms = [self._t("geometry_msgs/msg/TransformStamped")(
            header=self.header(stamp_ns, frame_id), child_frame_id=tf_child_frame(prefix, p),
            transform=self._t("geometry_msgs/msg/Transform")(translation=self.vector3(p.translation),
                                                             rotation=self.quaternion(pose_quaternion(p))))
            for p in poses]
        return self._t(TF_MESSAGE)(transforms=transforms)

    def marker(self, spec: MarkerSpec | None, stamp_ns: int, frame_id: str, style: MarkerStyle,
               delete: tuple[str, int] | None = None) -> Any:
        from .typestore import new_message

        m = new_message(self.store, "visualization_msgs/msg/Marker", header=self.header(stamp_ns, frame_id))
        if spec is None:  # delete = (ns, id) of one marker, or None: DELETEALL of every marker
            if delete is None:
                m.ns, m.id, m.action = "", 0, MARKER_DELETEALL
            else:
                m.ns, m.id, m.action = delete[0], int(delete[1]), MARKER_DELETE
            return m
        m.ns, m.id, m.type, m.action = spec.ns, int(spec.marker_id), int(spec.marker_type), MARKER_ADD
        m.pose = self.pose(spec.position, spec.orientation)
        m.scale = self.vector3(spec.scale)
        m.color = self.color(spec.color)
        m.lifetime = self._t("builtin_interfaces/msg/Duration")(sec=int(style.lifetime_s),
                                                                nanosec=int((style.lifetime_s % 1.0) * 1e9))
        m.points = [self.point(xyz) for xyz in spec.points]
        m.colors = [self.color(c) for c in spec.point_colors]
        m.text = spec.text
        return m


class MarkerArrayBuilder:
    """rosbags twin of ros/outputs.py MarkerTracker: ADD markers of the objects, DELETE of vanished ones."""

    def __init__(self, builder: MessageBuilder, style: MarkerStyle = MarkerStyle()) -> None:
        self.builder = builder
        self.style = style
        self._live = LiveMarkers()
        self._first = True

    def build(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> Any:
        specs = [spec for p in poses for spec in object_markers(p, self.style)]
        markers = [self.builder.marker(None, stamp_ns, frame_id, self.style)] if self._first else []  # DELETEALL
        self._first = False
        markers += [self.builder.marker(s, stamp_ns, frame_id, self.style) for s in specs]
        markers += [self.builder.marker(None, stamp_ns, frame_id, self.style, delete=key) for key in self._live.update(specs)]
        return self.builder.store.types[MARKER_ARRAY](markers=markers)
