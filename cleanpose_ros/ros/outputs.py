"""PoseEstimate -> output messages as rclpy objects: Detection3DArray, TFMessage, MarkerArray, PointCloud2.

The detections, TF and markers are built by interop/messages.py, the builder the rosbag tools use too, with
rclpy's message classes; only the point cloud is built here (the bags do not write one). All builders take
the stamp and frame id of the INPUT frame: outputs describe the scene at the moment the camera saw it,
never at `now()`, so consumers can look up TF at the right time.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3DArray

from ..core.types import PoseEstimate
from ..interop.converters import ns_to_stamp
from ..interop.messages import MarkerArrays, OutputMessages
# Colours, TF names and marker shapes live in output_spec (shared with the rosbag tools);
# re-exported here for the callers that know them from this module.
from ..interop.output_spec import (CATEGORY_COLORS, MARKER_NAMESPACES, LiveMarkers, MarkerSpec, MarkerStyle,  # noqa: F401
                                   object_markers, pose_quaternion, tf_child_frame)


@lru_cache(maxsize=None)
def _rclpy_class(type_name: str) -> type:
    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def rclpy_message(type_name: str, **fields: Any) -> Any:
    """interop/messages.py's `new` for rclpy: the generated class with these fields, the others at their defaults."""
    return _rclpy_class(type_name)(**fields)


MESSAGES = OutputMessages(rclpy_message)


def _header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


def detection_array(poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str) -> Detection3DArray:
    """One Detection3D per pose: id = instance id, hypothesis = (category, score, pose with its covariance
    when the pose has one), bbox = metric box."""
    return MESSAGES.detection3d_array(poses, stamp_ns, frame_id)


def tf_message(poses: Sequence[PoseEstimate], stamp_ns: int, frame_id: str, prefix: str) -> TFMessage:
    """One transform per object, child of the camera frame; rotation only (TF has no scale)."""
    return MESSAGES.tf_message(poses, stamp_ns, frame_id, prefix)


class MarkerTracker(MarkerArrays):
    """rclpy MarkerArrays over frames (interop/messages.py MarkerArrays); remembers what it drew, so vanished
    objects get DELETE markers."""

    def __init__(self, style: MarkerStyle = MarkerStyle()) -> None:
        super().__init__(MESSAGES, style)


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

