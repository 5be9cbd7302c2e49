"""The bag tools' rosbags messages carry exactly what the node's rclpy builders publish for the
same poses and frames: one source of truth, checked on the wire format."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.serialization import serialize_message  # noqa: E402

from cleanpose_ros.bags import messages as M  # noqa: E402
from cleanpose_ros.bags.typestore import build_typestore  # noqa: E402
from cleanpose_ros.core.geometry import axis_angle_to_rotation  # noqa: E402
from cleanpose_ros.core.types import REAL275_INTRINSICS, PoseEstimate  # noqa: E402
from cleanpose_ros.interop import converters
from cleanpose_ros.ros import outputs  # noqa: E402
from cleanpose_ros.interop.output_spec import MarkerStyle  # noqa: E402

STAMP = 1_700_000_123_000_000_042
FRAME = "camera_color_optical_frame"


def _pose(instance_id: int, category: str, angle: float, t=(0.1, -0.05, 0.8), size=(0.12, 0.09, 0.08)):
    return PoseEstimate(instance_id=instance_id, category=category, score=0.75,
                        rotation=axis_angle_to_rotation(np.array([1.0, 2.0, 0.5]), angle),
                        translation=np.array(t), size=np.array(size))


@pytest.fixture(scope="module")
def build():
    return M.MessageBuilder(build_typestore())


def _same(build, bag_msg, msgtype, rclpy_msg):
    """Equal field by field: the node's bytes, decoded and re-encoded by rosbags, equal ours.
    (Raw bytes may differ only in CDR padding, whose content the format leaves open.)"""
    theirs = build.store.serialize_cdr(build.store.deserialize_cdr(bytes(serialize_message(rclpy_msg)), msgtype), msgtype)
    assert bytes(build.store.serialize_cdr(bag_msg, msgtype)) == bytes(theirs)


def test_poses_tf_and_markers_equal_the_nodes(build):
    first = [_pose(3, "mug", 2.5), _pose(8, "unknown_thing", -0.7, t=(0.0, 0.1, 1.2), size=(0.3, 0.2, 0.25))]
    second = [_pose(8, "unknown_thing", -0.6)]
    _same(build, build.detection3d_array(first, STAMP, FRAME), M.DETECTION3D_ARRAY,
          outputs.detection_array(first, STAMP, FRAME))
    _same(build, build.tf_message(first, STAMP, FRAME, "cleanpose_"), M.TF_MESSAGE,
          outputs.tf_message(first, STAMP, FRAME, "cleanpose_"))
    style = MarkerStyle(line_width_m=0.005, text_height_m=0.03, lifetime_s=1.5)
    bag_markers, node_markers = M.MarkerArrayBuilder(build, style), outputs.MarkerTracker(style)
    for poses, stamp in ((first, STAMP), (second, STAMP + 1), ([], STAMP + 2)):  # ADDs, then DELETEs
        _same(build, bag_markers.build(poses, stamp, FRAME), M.MARKER_ARRAY, node_markers.build(poses, stamp, FRAME))


def test_inputs_equal_the_converters(build):
    rgb = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    depth = np.arange(48, dtype=np.uint16).reshape(6, 8) * 100
    _same(build, build.image(rgb, "rgb8", STAMP, FRAME), M.IMAGE,
          converters.array_to_image(rgb, "rgb8", stamp_ns=STAMP, frame_id=FRAME))
    _same(build, build.image(depth, "16UC1", STAMP, FRAME), M.IMAGE,
          converters.array_to_image(depth, "16UC1", stamp_ns=STAMP, frame_id=FRAME))
    _same(build, build.camera_info(REAL275_INTRINSICS, STAMP, FRAME), M.CAMERA_INFO,
          converters.intrinsics_to_camera_info(REAL275_INTRINSICS, stamp_ns=STAMP, frame_id=FRAME))
