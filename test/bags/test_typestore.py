"""The bag typestore: vision_msgs registered from our .msg files hash like the upstream and the
compiled types; the bag topic names are the node's."""
from __future__ import annotations

import numpy as np
import pytest

from cleanpose_ros.bags.errors import BagError
from cleanpose_ros.bags.topics import BagTopics
from cleanpose_ros.bags.typestore import build_typestore, new_message

# Upstream hashes; test/ros_foundation checks that the compiled types the node publishes have
# these too, so a bag written with this typestore carries the node's exact types.
UPSTREAM = {
    "vision_msgs/msg/Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "vision_msgs/msg/Detection3DArray": "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
    "tf2_msgs/msg/TFMessage": "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
}


@pytest.mark.parametrize("distro", ["kilted", "jazzy"])
def test_upstream_type_hashes(distro):
    store = build_typestore(distro)
    for msgtype, rihs in UPSTREAM.items():
        assert store.hash_rihs01(msgtype) == rihs


def test_new_message_defaults_and_unknown_type():
    store = build_typestore()
    info = new_message(store, "sensor_msgs/msg/CameraInfo", width=640)
    assert info.width == 640 and info.k.shape == (9,) and info.k.dtype == np.float64 and list(info.d) == []
    pose = new_message(store, "geometry_msgs/msg/Pose")  # identity orientation, as rclpy's Pose()
    assert (pose.orientation.x, pose.orientation.w, pose.position.z) == (0.0, 1.0, 0.0)
    raw = store.serialize_cdr(info, "sensor_msgs/msg/CameraInfo")
    assert store.deserialize_cdr(raw, "sensor_msgs/msg/CameraInfo").width == 640
    with pytest.raises(BagError, match="my_msgs/msg/Nope"):
        new_message(store, "my_msgs/msg/Nope")


def test_topics_are_the_nodes():
    pytest.importorskip("rclpy")
    from cleanpose_ros.ros import node

    t = BagTopics()
    assert (t.color, t.depth, t.camera_info, t.mask, t.detections, t.poses, t.markers) == tuple(
        "/" + n for n in (node.TOPIC_COLOR, node.TOPIC_DEPTH, node.TOPIC_INFO, node.TOPIC_MASK, node.TOPIC_DETECTIONS,
                          node.TOPIC_POSES, node.TOPIC_MARKERS))


def test_topic_overrides():
    t = BagTopics.with_overrides(["color=/cam/rgb", "depth=cam/depth"])
    assert (t.color, t.depth, t.mask) == ("/cam/rgb", "/cam/depth", "/segmentation/mask")
    with pytest.raises(BagError, match="unknown stream 'colour'"):
        BagTopics.with_overrides(["colour=/x"])
    with pytest.raises(BagError, match="stream=/topic"):
        BagTopics.with_overrides(["/x"])
