#!/usr/bin/env python3
"""The ROS node under a live camera: input/output rate, latency, drops, as /diagnostics reports them.

Starts `demo_camera` and `cleanpose_node` as separate processes (like a deployment), listens to
/diagnostics and to the node's Detection3DArray for `--seconds` and prints a markdown table: the
node's own report (input stamp -> published) and the end-to-end latency seen by this third process
(input stamp -> Detection3DArray received here; all processes share the machine's clock), the
share of input frames processed and the objects per frame. `--weights shipped` (default) uses
weights/cleanpose_lite.pt (with the onnx engine: its paired .onnx); `--weights random` a
random-initialised lite checkpoint (timing does not depend on the weight values).

  .venv/bin/python bench/bench_node.py [--rate 30] [--seconds 20] [--weights weights/cleanpose_lite.pt]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=30.0, help="demo camera frame rate, Hz")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement time after the first output")
    parser.add_argument("--weights", default="shipped", help="checkpoint, 'shipped' (default) or 'random'")
    parser.add_argument("--engine", choices=("torch", "onnx"), default="onnx")
    parser.add_argument("--threads", type=int, default=1, help="inference threads of the node")
    parser.add_argument("--parallel-batches", type=int, default=1, help="inference.parallel_batches of the node")
    args = parser.parse_args()

    # A private domain and local discovery, set before rclpy starts (children inherit them).
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="cleanpose-bench-roslog-"))
    from cleanpose_ros.resources import ensure_fastdds_profile

    ensure_fastdds_profile()
    weights = args.weights
    if weights == "shipped":
        weights = str(ROOT / "weights" / "cleanpose_lite.pt")
    elif weights == "random":
        from test.ros.conftest import make_random_lite_checkpoint

        weights = str(make_random_lite_checkpoint(Path(tempfile.mkdtemp()) / "random_lite.pt"))

    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection3DArray

    from cleanpose_ros.interop.converters import stamp_to_ns

    from test.support.processes import node_diagnostics, start_node_and_camera, stop

    node_proc, camera_proc = start_node_and_camera(weights, args.rate, args.threads, args.engine,
                                                   parallel_batches=args.parallel_batches)
    rclpy.init()
    probe = Node("cleanpose_bench_probe")
    latest = node_diagnostics(probe)
    received: list[tuple[float, int]] = []  # (end-to-end latency ms, objects) of each array received here
    measuring = [False]

    def on_poses(msg: Detection3DArray) -> None:
        if measuring[0]:
            received.append(((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6, len(msg.detections)))

    probe.create_subscription(Detection3DArray, "pose_estimation/detections", on_poses,
                              QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    try:
        deadline = time.monotonic() + 120.0
        while int(latest.get("frames_out", "0")) == 0 and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
            if node_proc.poll() is not None or camera_proc.poll() is not None:
                print("a process exited early", file=sys.stderr)
                return 1
        start = dict(latest)
        measuring[0] = True
        end_at = time.monotonic() + args.seconds
        while time.monotonic() < end_at:
            rclpy.spin_once(probe, timeout_sec=0.1)
    finally:
        probe.destroy_node()
        rclpy.shutdown()
        stop(camera_proc)
        stop(node_proc)
    if not latest:
        print("no diagnostics received", file=sys.stderr)
        return 1
    frames_in = int(latest["frames_in"]) - int(start.get("frames_in", "0"))
    frames_out = int(latest["frames_out"]) - int(start.get("frames_out", "0"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; camera {args.rate} Hz 640x480;"
          f" engine {args.engine}, {args.threads} thread(s), parallel_batches {args.parallel_batches}; {args.seconds:.0f} s")
    import numpy as np

    e2e = np.array([r[0] for r in received]) if received else np.full(1, np.nan)
    objects = np.mean([r[1] for r in received]) if received else 0.0
    print("| input Hz | output Hz | processed | objects/frame | node latency p50 / p95 ms | end-to-end p50 / p95 ms |"
          " processing p50 / p95 ms | superseded | unmatched |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {frames_in / args.seconds:.1f} | {frames_out / args.seconds:.1f} | {100 * frames_out / max(frames_in, 1):.0f} % |"
          f" {objects:.1f} | {latest['latency_p50_ms']} / {latest['latency_p95_ms']} |"
          f" {np.percentile(e2e, 50):.1f} / {np.percentile(e2e, 95):.1f} |"
          f" {latest['processing_p50_ms']} / {latest['processing_p95_ms']} |"
          f" {latest['dropped_superseded']} | {latest['dropped_unmatched']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
