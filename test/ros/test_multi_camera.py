"""Several cameras, one node process: `cameras: [cam0, cam1]`.

Two demo cameras in their own namespaces (/cam0, /cam1; different scenes and optical frames) and
the node as separate processes, the test as the consumer. Each camera's poses must come out on its
own topic, in its own frame, stamped with its own frames, and the node must have batched both
cameras' frames into one engine call at least some of the time (/diagnostics frames_per_engine_call).
"""
from __future__ import annotations

import time

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from vision_msgs.msg import Detection3DArray  # noqa: E402

from cleanpose_ros.interop import converters  # noqa: E402
from test.support.processes import node_diagnostics, start_python, stop, stop_all  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CAMERAS = ("cam0", "cam1")


def test_two_cameras_are_served_by_one_node_and_batched(node_weights):
    rclpy.init()
    probe = Node("multi_camera_probe")
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    outputs: dict[str, list[Detection3DArray]] = {c: [] for c in CAMERAS}
    inputs: dict[str, set[int]] = {c: set() for c in CAMERAS}
    for cam in CAMERAS:
        probe.create_subscription(Detection3DArray, f"/{cam}/pose_estimation/detections", outputs[cam].append, reliable)
        # the demo camera's ground truth carries each frame's stamp in a small message
        probe.create_subscription(Detection3DArray, f"/{cam}/ground_truth/detections",
                                  lambda m, c=cam: inputs[c].add(converters.stamp_to_ns(m.header.stamp)), reliable)
    diagnostics = node_diagnostics(probe)
    batched = []
    node = start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={node_weights}",
                         "-p", "inference.num_threads:=1", "-p", "health.log_period_s:=0.0",
                         "-p", "health.diagnostics_period_s:=0.5", "-p", f"cameras:=[{','.join(CAMERAS)}]"])
    cameras = [start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-r", f"__ns:=/{cam}",
                             "-p", "scenes:=2", "-p", f"seed:={k + 5}", "-p", "rate_hz:=15.0",
                             "-p", f"frame_id:={cam}_optical_frame"]) for k, cam in enumerate(CAMERAS)]
    procs = [node, *cameras]
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.05)
            assert all(p.poll() is None for p in procs), "a process died"
            if "frames_per_engine_call" in diagnostics:
                batched.append(float(diagnostics["frames_per_engine_call"]))
            posed_after_truth = {c: sum(bool(a.detections and inputs[c]) and converters.stamp_to_ns(a.header.stamp)
                                        >= min(inputs[c]) for a in outputs[c]) for c in CAMERAS}
            if all(n >= 3 for n in posed_after_truth.values()) and max(batched, default=0) > 1.0:
                break
        counts = {c: sum(bool(a.detections) for a in outputs[c]) for c in CAMERAS}
        assert all(n >= 3 for n in counts.values()), f"posed arrays per camera: {counts}; diagnostics {diagnostics}"
        assert all(inputs[c] for c in CAMERAS), "no ground truth (frame stamps) received from a camera"
        for cam in CAMERAS:
            arrays = [a for a in outputs[cam] if a.detections]
            assert {a.header.frame_id for a in arrays} == {f"{cam}_optical_frame"}  # each camera's own frame
            # frames sent before the probe's ground-truth subscription matched are not in `inputs`
            stamps = {converters.stamp_to_ns(a.header.stamp) for a in arrays} - {0}
            stamps = {s for s in stamps if s >= min(inputs[cam])}
            assert stamps and stamps <= inputs[cam], f"{cam}: output stamps that are not its input frames"
        assert not (inputs["cam0"] & inputs["cam1"]), "the two cameras' stamps must differ for this test to mean anything"
        assert max(batched) > 1.0, f"never more than one camera per engine call: {batched[-5:]}"
    finally:
        for out in stop_all(procs):
            assert "Traceback" not in out, out[-2000:]
        probe.destroy_node()
        rclpy.shutdown()
