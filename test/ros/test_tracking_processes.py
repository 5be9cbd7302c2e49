"""Tracking across processes: the demo camera plays a generated sequence (a hand-held camera circling
a static table) renumbering its instance ids every frame, the node tracks; the consumer sees one stable
TF name per object while the raw estimates' ids change every frame."""
from __future__ import annotations

import time

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from vision_msgs.msg import Detection3DArray  # noqa: E402

from test.support.processes import start_python, stop  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_tf_names_stay_stable_while_the_segmenter_renumbers(node_weights):
    rclpy.init()
    probe = Node("tracking_probe")
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    raw_ids, tf_frames = [], []
    probe.create_subscription(Detection3DArray, "pose_estimation/detections_raw",
                              lambda m: raw_ids.append(sorted(d.id for d in m.detections)), reliable)
    probe.create_subscription(TFMessage, "/tf", lambda m: tf_frames.append(sorted(t.child_frame_id for t in m.transforms)),
                              QoSProfile(depth=100))
    node = start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={node_weights}",
                         "-p", "inference.num_threads:=1", "-p", "tracking.enabled:=true", "-p", "health.log_period_s:=0.0"])
    camera = start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-p", "scenes:=40", "-p", "sequence:=true",
                           "-p", "shuffle_ids:=true", "-p", "rate_hz:=10.0", "-p", "seed:=3"])
    try:
        deadline = time.monotonic() + 150.0
        while len(tf_frames) < 15 and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
            assert node.poll() is None and camera.poll() is None, "a process died"
        assert len(tf_frames) >= 15, f"only {len(tf_frames)} TF messages"
    finally:
        out = stop(camera) + stop(node)
        probe.destroy_node()
        rclpy.shutdown()
    assert "Traceback" not in out, out[-2000:]
    assert len({tuple(ids) for ids in raw_ids}) > len(raw_ids) // 2  # the segmenter's ids keep changing
    names = set().union(*map(set, tf_frames))
    # one name per physical object: no more names than objects ever tracked at once (+1 for a late birth)
    assert len(names) <= max(len(f) for f in tf_frames) + 1, (names, tf_frames[:3])
    # and the objects of the last frames carry names they already had early on
    assert set(tf_frames[-1]) <= set().union(*map(set, tf_frames[:5]))
