"""Faults across processes, as a deployment sees them: the camera (publisher) killed and restarted, the
node killed and restarted under a live subscriber, and a 200 Hz burst. The node and the demo camera
run as separate processes; the test process is the consumer. After each fault the outputs must come
back on their own, with fresh stamps, and the restarted node must clear old markers (DELETEALL).
The 10-minute soak with memory sampling is a benchmark: bench/soak_node.py.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from vision_msgs.msg import Detection3DArray  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from cleanpose_ros.interop import converters  # noqa: E402
from test.support.processes import start_python, stop, stop_all  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _node(weights: Path):
    return start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={weights}",
                         "-p", "inference.num_threads:=1", "-p", "health.log_period_s:=0.0"])


def _camera(rate_hz: float):
    return start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-p", "scenes:=2",
                         "-p", f"rate_hz:={rate_hz}"])


class Consumer:
    def __init__(self) -> None:
        self.node = Node("fault_probe")
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.stamps: list[int] = []
        self.marker_arrays: list[MarkerArray] = []
        self.node.create_subscription(Detection3DArray, "pose_estimation/detections",
                                      lambda m: self.stamps.append(converters.stamp_to_ns(m.header.stamp)), reliable)
        self.node.create_subscription(MarkerArray, "pose_estimation/markers", self.marker_arrays.append, reliable)

    def wait_for_outputs(self, count: int, newer_than: int, seconds: float, procs=()) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if sum(s > newer_than for s in self.stamps) >= count:
                return True
            assert all(p.poll() is None for p in procs), "a process died"
        return False


@pytest.fixture()
def consumer():
    rclpy.init()
    c = Consumer()
    yield c
    c.node.destroy_node()
    rclpy.shutdown()


def test_outputs_recover_from_camera_and_node_restarts_and_a_200_hz_burst(consumer, node_weights):
    node, camera = _node(node_weights), _camera(15.0)
    procs = [node, camera]
    try:
        assert consumer.wait_for_outputs(3, 0, 90.0, procs), "no outputs at start"
        # 1. the camera dies without a goodbye (SIGKILL) and comes back
        camera.send_signal(signal.SIGKILL)
        camera.wait(10)
        time.sleep(1.0)
        assert node.poll() is None, "the node died with its input"
        mark = time.time_ns()
        camera = procs[1] = _camera(15.0)
        assert consumer.wait_for_outputs(3, mark, 60.0, procs), "no outputs after the camera came back"
        # 2. the node dies (SIGKILL) under the live consumer and is restarted
        node.send_signal(signal.SIGKILL)
        node.wait(10)
        consumer.wait_for_outputs(10**9, 0, 1.0)  # drain what the dead node sent before it died
        consumer.marker_arrays.clear()
        mark = time.time_ns()
        node = procs[0] = _node(node_weights)
        assert consumer.wait_for_outputs(3, mark, 90.0, procs), "no outputs after the node restarted"
        # the restarted node's arrays are stamped with frames captured after `mark`
        first = next(a for a in consumer.marker_arrays
                     if a.markers and converters.stamp_to_ns(a.markers[0].header.stamp) > mark)
        assert first.markers[0].action == Marker.DELETEALL, "a restarted node must clear the markers of its last run"
        # 3. a burst: the camera as fast as it can (asked for 200 Hz); the node keeps the newest frame
        stop(camera)
        mark = time.time_ns()
        camera = procs[1] = _camera(200.0)
        assert consumer.wait_for_outputs(5, mark, 60.0, procs), "no outputs during the burst"
        stamps = [s for s in consumer.stamps if s > mark]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # never an older or repeated frame
    finally:
        for out in stop_all(procs):
            assert "Traceback" not in out, out[-2000:]
