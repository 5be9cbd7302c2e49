"""What the pose outputs contain, independent of any message library.

The node builds rclpy messages from these specs (ros/outputs.py) and the rosbag replay tool
builds rosbags messages from the same specs (bags/messages.py), so colours, TF child frame
names, marker shapes and marker life cycles have one source of truth. Pure numpy: importable
without ROS.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.geometry import BOX_EDGES, box_corners, rotation_to_quaternion
from ..core.types import PoseEstimate

RGBA = tuple[float, float, float, float]

#: One colour per NOCS category (RGBA, 0..1), unknown categories get grey.
CATEGORY_COLORS: dict[str, RGBA] = {
    "bottle": (0.12, 0.47, 0.71, 1.0),
    "bowl": (1.0, 0.50, 0.05, 1.0),
    "camera": (0.17, 0.63, 0.17, 1.0),
    "can": (0.84, 0.15, 0.16, 1.0),
    "laptop": (0.58, 0.40, 0.74, 1.0),
    "mug": (0.89, 0.47, 0.76, 1.0),
}
UNKNOWN_CATEGORY_COLOR: RGBA = (0.6, 0.6, 0.6, 1.0)
AXIS_COLORS: tuple[RGBA, RGBA, RGBA] = ((1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0))  # x r, y g, z b
LABEL_COLOR: RGBA = (1.0, 1.0, 1.0, 1.0)

MARKER_NAMESPACES = ("box", "axes", "label")
#: visualization_msgs/Marker type and action constants (the values are part of the message definition).
MARKER_LINE_LIST = 5
MARKER_TEXT_VIEW_FACING = 9
MARKER_ADD = 0
MARKER_DELETE = 2
MARKER_DELETEALL = 3  # the node's first array: clear what an earlier run left


def category_color(category: str) -> RGBA:
    return CATEGORY_COLORS.get(category, UNKNOWN_CATEGORY_COLOR)


def tf_child_frame(prefix: str, pose: PoseEstimate) -> str:
    """`<prefix><category>_<instance id>`, e.g. 'cleanpose/mug_3'."""
    return f"{prefix}{pose.category}_{pose.instance_id}"


def pose_quaternion(pose: PoseEstimate) -> np.ndarray:
    """(x, y, z, w), w >= 0, of the canonical -> camera rotation."""
    return rotation_to_quaternion(pose.rotation)


@dataclass(frozen=True)
class MarkerStyle:
    line_width_m: float = 0.004
    text_height_m: float = 0.025
    axis_length_ratio: float = 0.6  # axis length as a fraction of the largest box extent
    lifetime_s: float = 0.0  # 0 = until deleted (vanished objects are deleted explicitly)


@dataclass(frozen=True, eq=False)
class MarkerSpec:
    """One ADD marker, in the camera frame: pose, shape and colours."""

    ns: str
    marker_id: int
    marker_type: int
    position: np.ndarray  # (3,)
    orientation: np.ndarray  # (4,) x, y, z, w
    scale: tuple[float, float, float]
    color: RGBA
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (K, 3) in the marker's frame
    point_colors: tuple[RGBA, ...] = ()
    text: str = ""


def object_markers(pose: PoseEstimate, style: MarkerStyle) -> list[MarkerSpec]:
    """Box (LINE_LIST of the 12 edges), axes (x red, y green, z blue) and a label above the box.

    Box and axes are drawn in the object's own frame (marker pose = object pose), which keeps
    the corners exact and lets the viewer apply the transform.
    """
    size = np.asarray(pose.size, dtype=np.float64)
    position = np.asarray(pose.translation, dtype=np.float64)
    q = pose_quaternion(pose)
    color = category_color(pose.category)
    corners = box_corners(size)
    box_points = np.array([corners[k] for edge in BOX_EDGES for k in edge])
    length = style.axis_length_ratio * float(size.max())
    axis_points = np.zeros((6, 3))
    for axis in range(3):
        axis_points[2 * axis + 1, axis] = length
    line = (style.line_width_m, 0.0, 0.0)
    # Canonical +y is the object's up: the text goes just above the box.
    label_position = position + pose.rotation @ np.array([0.0, size[1] / 2 + 0.02, 0.0])
    return [
        MarkerSpec("box", int(pose.instance_id), MARKER_LINE_LIST, position, q, line, color, box_points),
        MarkerSpec("axes", int(pose.instance_id), MARKER_LINE_LIST, position, q, line, color, axis_points,
                   tuple(c for c in AXIS_COLORS for _ in range(2))),
        MarkerSpec("label", int(pose.instance_id), MARKER_TEXT_VIEW_FACING, label_position, q,
                   (0.0, 0.0, style.text_height_m), LABEL_COLOR, text=f"{pose.category} {pose.score:.2f}"),
    ]


class LiveMarkers:
    """Remembers which (namespace, id) markers are drawn, so vanished objects get a DELETE."""

    def __init__(self) -> None:
        self._live: set[tuple[str, int]] = set()

    def update(self, drawn: Sequence[MarkerSpec]) -> list[tuple[str, int]]:
        """Record this frame's markers; returns the (ns, id) pairs to delete, sorted."""
        now = {(m.ns, m.marker_id) for m in drawn}
        gone = sorted(self._live - now)
        self._live = now
        return gone
