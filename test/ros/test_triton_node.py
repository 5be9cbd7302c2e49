"""The real node process with `inference.engine: triton` against a real Triton server (PyTriton, .venv-triton):
demo camera -> node -> server -> poses; the server stops: the node stays up, counts the refused frames as
`engine_unavailable` and publishes no pose; the server comes back on the same port: poses again, no restart."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from vision_msgs.msg import Detection3DArray  # noqa: E402

from cleanpose_ros.interop import converters  # noqa: E402
from test.support.processes import node_diagnostics, start_python, stop  # noqa: E402
from test.support.triton import SHIPPED_ONNX, SKIP_REASON, TRITON_PYTHON, TritonTestServer  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow,
              pytest.mark.skipif(not TRITON_PYTHON.is_file() or not SHIPPED_ONNX.is_file(), reason=SKIP_REASON)]

SHIPPED_PT = SHIPPED_ONNX.with_suffix(".pt")


def test_node_on_a_triton_server_survives_its_outage_and_resumes(tmp_path: Path):
    server = TritonTestServer(tmp_path, max_queue_delay_us=1000)
    server.start()
    rclpy.init()
    probe = Node("cleanpose_triton_probe")
    poses: list[tuple[int, int]] = []  # (stamp, objects) of every pose message with objects
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    probe.create_subscription(Detection3DArray, "pose_estimation/detections", lambda m: poses.append(
        (converters.stamp_to_ns(m.header.stamp), len(m.detections))) if m.detections else None, reliable)
    diagnostics = node_diagnostics(probe)  # the node's latest /diagnostics key/values
    node = start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={SHIPPED_PT}",
                         "-p", "inference.engine:=triton", "-p", f"inference.triton.url:={server.url}",
                         "-p", "health.diagnostics_period_s:=0.3", "-p", "health.log_period_s:=0.0",
                         "-p", "sync.max_age_ms:=3000.0"])
    camera = start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-p", "scenes:=3",
                           "-p", "rate_hz:=5.0"])
    now = lambda: probe.get_clock().now().nanoseconds  # noqa: E731

    def spin_until(condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline or node.poll() is not None:
                return condition()
            rclpy.spin_once(probe, timeout_sec=0.05)
        return True

    try:
        assert spin_until(lambda: len(poses) >= 3, 120.0), f"{len(poses)} pose messages; {diagnostics}"
        assert server.stop() == 0
        stopped_ns = now()
        assert spin_until(lambda: int(diagnostics.get("rejected_engine_unavailable", "0")) >= 3, 30.0), diagnostics
        assert node.poll() is None
        late = [s for s, _ in poses if s > stopped_ns + 500_000_000]
        assert late == [], f"{len(late)} pose messages for frames after the server stopped"
        refused = int(diagnostics["rejected_engine_unavailable"])
        server.start()
        restarted_ns = now()
        assert spin_until(lambda: any(s > restarted_ns for s, _ in poses), 60.0), diagnostics
        assert spin_until(lambda: int(diagnostics.get("frames_out", "0")) > 0, 5.0)
        assert node.poll() is None and diagnostics.get("errors") == "0", diagnostics
        print(f"triton node: {len(poses)} pose messages, {refused} frames refused while the server was down, "
              f"server start {server.start_s[0]:.1f} s / restart {server.start_s[1]:.1f} s")
    finally:
        out = stop(node)
        stop(camera)
        probe.destroy_node()
        rclpy.shutdown()
        server.stop()
    assert "frame(s) refused (engine_unavailable)" in out, out[-3000:]
    assert "triton engine: reconnected to" in out, out[-3000:]
