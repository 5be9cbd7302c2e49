"""Topic names of the bags: the node's inputs and outputs (absolute, as `ros2 bag record` stores
them for a node in the root namespace) and the ground truth that only bags carry.

The node's relative names live in ros/node.py (TOPIC_*); test/bags checks that these agree.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

from .errors import BagError


@dataclass(frozen=True)
class BagTopics:
    """Where each stream is in a bag. Override with `name=/topic` pairs (cleanpose-replay --topics)."""

    color: str = "/color/image_raw"  # sensor_msgs/Image rgb8 (bgr8, rgba8, mono8 accepted)
    depth: str = "/depth/image_raw"  # sensor_msgs/Image 16UC1 mm (32FC1 m accepted)
    camera_info: str = "/color/camera_info"  # sensor_msgs/CameraInfo
    mask: str = "/segmentation/mask"  # sensor_msgs/Image mono8/mono16 instance ids, 0 = background
    detections: str = "/segmentation/detections"  # vision_msgs/Detection2DArray, id = mask value
    ground_truth: str = "/ground_truth/detections"  # vision_msgs/Detection3DArray (viewable truth)
    annotations: str = "/ground_truth/annotations"  # std_msgs/String JSON (exact truth, docs/rosbag.md)
    poses: str = "/pose_estimation/detections"  # vision_msgs/Detection3DArray (output)
    markers: str = "/pose_estimation/markers"  # visualization_msgs/MarkerArray (output)
    tf: str = "/tf"  # tf2_msgs/TFMessage (output)

    @classmethod
    def with_overrides(cls, pairs: Sequence[str] | Mapping[str, str]) -> "BagTopics":
        """From `["color=/cam/rgb", ...]` or a mapping; BagError names an unknown stream."""
        items = pairs.items() if isinstance(pairs, Mapping) else [_split(p) for p in pairs]
        names = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for name, topic in items:
            if name not in names:
                raise BagError(f"unknown stream {name!r} in a topic override; streams: {sorted(names)}")
            values[name] = topic if topic.startswith("/") else "/" + topic
        return cls(**values)


def _split(pair: str) -> tuple[str, str]:
    name, sep, topic = pair.partition("=")
    if not sep or not name or not topic:
        raise BagError(f"topic override {pair!r} is not of the form stream=/topic")
    return name.strip(), topic.strip()
