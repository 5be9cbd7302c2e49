"""The one place poses become output messages (Detection3DArray, TFMessage, MarkerArray), for any message
library: the node builds rclpy messages with it (ros/outputs.py), the rosbag tools rosbags messages
(bags/messages.py). A library is two functions:

- `new(type_name, **fields)`: a message of the ROS type ("vision_msgs/msg/Detection3D") with the given fields
  and every other field at its default;
- nothing else: nested messages are built through `new` too, primitive arrays passed as numpy arrays (both
  rclpy and rosbags take them).

What the messages contain (colours, TF child frame names, marker shapes, DELETE of vanished objects) comes from
interop/output_spec.py.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..core.types import PoseEstimate
from .output_spec import (MARKER_ADD, MARKER_DELETE, MARKER_DELETEALL, LiveMarkers, MarkerSpec, MarkerStyle, object_markers,
                          pose_quaternion, tf_child_frame)

NewMessage = Callable[..., Any]  # new(type_name, **fields) -> message

DETECTION3D_ARRAY = "vision_msgs/msg/Detection3DArray"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"


class OutputMessages:
    """Builds the node's output messages through one message library's `new`."""

    def __init__(self, new: NewMessage) -> None:
        self.new = new

    # ------------------------------------------------------------------ common parts
    def time(self, stamp_ns: int) -> Any:
        return self.new("builtin_interfaces/msg/Time", sec=int(stamp_ns // 1_000_000_000),
                        nanosec=int(stamp_ns % 1_000_000_000))

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        return self.new("std_msgs/msg/Header", stamp=self.time(stamp_ns), frame_id=frame_id)

    def point(self, xyz: Sequence[float]) -> Any:
        return self.new("geometry_msgs/msg/Point", x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))

    def vector3(self, xyz: Sequence[float]) -> Any:
        return self.new("geometry_msgs/msg/Vector3", x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))

    def quaternion(self, q: Sequence[float]) -> Any:
        return self.new("geometry_msgs/msg/Quaternion", x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))

    def pose(self, position: Sequence[float], q: Sequence[float]) -> Any:
        return self.new("geometry_msgs/msg/Pose", position=self.point(position), orientation=self.quaternion(q))

    def color(self, rgba: Sequence[float]) -> Any:
        return self.new("std_msgs/msg/ColorRGBA", r=float(rgba[0]), g=float(rgba[1]), b=float(rgba[2]), a=float(rgba[3]))

    # ------------------------------------------------------------------ detections and TF
    def hypothesis(self, class_id: str, score: float, position: Sequence[float], q: Sequence[float],
                   covariance: np.ndarray | None = None) -> Any:
        """One ObjectHypothesisWithPose; covariance row-major 6x6 (x, y, z, rot x, y, z), all zero = not estimated."""
        cov = np.zeros(36) if covariance is None else np.asarray(covariance, np.float64).ravel()
        return self.new("vision_msgs/msg/ObjectHypothesisWithPose",
                        hypothesis=self.new("vision_msgs/msg/ObjectHypothesis", class_id=class_id, score=float(score)),
                        pose=self.new("geometry_msgs/msg/PoseWithCovariance", pose=self.pose(position, q), covariance=cov))

    def detection3d(self, pose: PoseEstimate, stamp_ns: int, frame_id: str) -> Any:
        """id = instance id, one hypothesis (category, score, pose with its covariance), bbox = the metric box."""
        q = pose_quaternion(pose)
        return self.new("vision_msgs/msg/Detection3D", header=self.header(stamp_ns, frame_id),
                        results=[self.hypothesis(pose.category, pose.score, pose.translation, q, pose.covariance)],
                        bbox=self.new("vision_msgs/msg/BoundingBox3D", center=self.pose(pose.translation, q),
                                      size=self.vector3(pose.size)),
                        id=str(int(pose.instance_id)))

    def detection3d_array(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> Any:
        """pose_estimation/detections: one Detection3D per pose."""
        return self.new(DETECTION3D_ARRAY, header=self.header(stamp_ns, frame_id),
                        detections=[self.detection3d(p, stamp_ns, frame_id) for p in poses])

    def tf_message(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str, prefix: str) -> Any:
        """One transform per object, child of the camera frame; rotation only (TF has no scale)."""
        return self.new(TF_MESSAGE, transforms=[
            self.new("geometry_msgs/msg/TransformStamped", header=self.header(stamp_ns, frame_id),
                     child_frame_id=tf_child_frame(prefix, p),
                     transform=self.new("geometry_msgs/msg/Transform", translation=self.vector3(p.translation),
                                        rotation=self.quaternion(pose_quaternion(p))))
            for p in poses])

    # ------------------------------------------------------------------ markers
    def marker(self, spec: MarkerSpec | None, stamp_ns: int, frame_id: str, style: MarkerStyle,
               delete: tuple[str, int] | None = None) -> Any:
        """The Marker of `spec`; without one, a DELETE of `delete` = (ns, id), or a DELETEALL."""
        header = self.header(stamp_ns, frame_id)
        if spec is None:
            if delete is None:
                return self.new("visualization_msgs/msg/Marker", header=header, ns="", id=0, action=MARKER_DELETEALL)
            return self.new("visualization_msgs/msg/Marker", header=header, ns=delete[0], id=int(delete[1]),
                            action=MARKER_DELETE)
        return self.new(
            "visualization_msgs/msg/Marker", header=header, ns=spec.ns, id=int(spec.marker_id), type=int(spec.marker_type),
            action=MARKER_ADD, pose=self.pose(spec.position, spec.orientation), scale=self.vector3(spec.scale),
            color=self.color(spec.color),
            lifetime=self.new("builtin_interfaces/msg/Duration", sec=int(style.lifetime_s),
                              nanosec=int((style.lifetime_s % 1.0) * 1e9)),
            points=[self.point(xyz) for xyz in np.asarray(spec.points, np.float64).reshape(-1, 3).tolist()],
            colors=[self.color(c) for c in spec.point_colors], text=spec.text)


class MarkerArrays:
    """MarkerArrays over frames: ADD markers of the objects, DELETE of those gone since the last array, and a
    DELETEALL first, so what an earlier run drew does not stay in the viewer."""

    def __init__(self, messages: OutputMessages, style: MarkerStyle = MarkerStyle()) -> None:
        self.messages = messages
        self.style = style
        self._live = LiveMarkers()
        self._first = True

    def reset(self) -> None:
        """Forget what was drawn (nobody is watching): the next array starts with a DELETEALL again."""
        self._live = LiveMarkers()
        self._first = True

    def build(self, poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str, delivered: bool = True) -> Any:
        """Markers of `poses` plus DELETE for objects gone since the last call. `delivered` says whether this array
        reaches a subscriber: until one does, every array keeps the DELETEALL (arrays sent before discovery are lost)."""
        m = self.messages
        specs = [spec for p in poses for spec in object_markers(p, self.style)]
        markers = [m.marker(None, stamp_ns, frame_id, self.style)] if self._first else []
        if self._first:
            self._first = not delivered
        markers += [m.marker(s, stamp_ns, frame_id, self.style) for s in specs]
        markers += [m.marker(None, stamp_ns, frame_id, self.style, delete=key) for key in self._live.update(specs)]
        return m.new(MARKER_ARRAY, markers=markers)


__all__ = ["DETECTION3D_ARRAY", "MARKER_ARRAY", "MarkerArrays", "NewMessage", "OutputMessages", "TF_MESSAGE"]
