#!/usr/bin/env python3
"""Several cameras on one machine: one multi-camera node (one engine call for all cameras' newest
frames) against one node process per camera, with 1, 2 and 4 simulated cameras.

Each camera is a `demo_camera` process in its own namespace (/cam<k>, its own scenes and optical
frame) publishing 640x480 frames at `--rate`. This process subscribes to every camera's
`pose_estimation/detections` and measures, per setup: aggregate poses/s and arrays/s, the
end-to-end latency (input stamp -> array received here, p50 / p95 over all cameras), the share of
input frames that got an output, and (multi-camera node) the mean frames per engine call from
/diagnostics. Stops by itself after `--seconds` per setup; loopback only (private ROS domain).

  .venv/bin/python bench/bench_multi_camera.py [--cameras 1 2 4] [--rate 15] [--seconds 20] [--threads 2]
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _node(weights: str, names: list[str], threads: int, engine: str):  # noqa: ANN202
    from test.support.processes import start_python

    return start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={weights}",
                         "-p", f"inference.engine:={engine}", "-p", f"inference.num_threads:={threads}",
                         "-p", "health.log_period_s:=0.0", "-p", "health.diagnostics_period_s:=1.0",
                         "-p", f"cameras:=[{','.join(names)}]"])


def _camera(name: str, seed: int, rate: float):  # noqa: ANN202
    from test.support.processes import start_python

    return start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-r", f"__ns:=/{name}",
                         "-p", "scenes:=3", "-p", f"seed:={seed}", "-p", f"rate_hz:={rate}",
                         "-p", f"frame_id:={name}_optical_frame"])


def run_setup(n: int, shared: bool, args: argparse.Namespace, weights: str) -> dict[str, float]:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection3DArray

    from cleanpose_ros.interop.converters import stamp_to_ns
    from test.support.processes import node_diagnostics, stop

    names = [f"cam{k}" for k in range(n)]
    rclpy.init()
    probe = Node("bench_multi_camera_probe")
    diagnostics = node_diagnostics(probe)
    received: list[tuple[float, int]] = []
    ground_truth = [0]
    measuring = [False]
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)

    started: set[str] = set()  # cameras (optical frames) with a first output

    def on_poses(msg: Detection3DArray) -> None:
        started.add(msg.header.frame_id)
        if measuring[0]:
            received.append(((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6, len(msg.detections)))

    def on_truth(_msg: Detection3DArray) -> None:
        if measuring[0]:
            ground_truth[0] += 1

    for name in names:
        probe.create_subscription(Detection3DArray, f"/{name}/pose_estimation/detections", on_poses, reliable)
        probe.create_subscription(Detection3DArray, f"/{name}/ground_truth/detections", on_truth, reliable)
    threads = args.threads if shared else max(1, args.threads // n)
    nodes = [_node(weights, names, threads, args.engine)] if shared else [_node(weights, [c], threads, args.engine)
                                                                          for c in names]
    cameras = [_camera(c, 20 + k, args.rate) for k, c in enumerate(names)]
    frames_per_call = []
    try:
        deadline = time.monotonic() + 180.0
        while len(started) < n and time.monotonic() < deadline:  # every camera has its first output
            rclpy.spin_once(probe, timeout_sec=0.1)
        measuring[0] = True
        end_at = time.monotonic() + args.seconds
        while time.monotonic() < end_at:
            rclpy.spin_once(probe, timeout_sec=0.05)
            if "frames_per_engine_call" in diagnostics:
                frames_per_call.append(float(diagnostics["frames_per_engine_call"]))
        measuring[0] = False
    finally:
        for p in cameras + nodes:
            stop(p)
        probe.destroy_node()
        rclpy.shutdown()
    latency = np.array([r[0] for r in received]) if received else np.full(1, np.nan)
    return {"arrays_per_s": len(received) / args.seconds, "poses_per_s": sum(r[1] for r in received) / args.seconds,
            "processed": len(received) / max(ground_truth[0], 1), "p50": float(np.percentile(latency, 50)),
            "p95": float(np.percentile(latency, 95)), "frames_per_call": frames_per_call[-1] if frames_per_call else 1.0,
            "threads": threads}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--rate", type=float, default=15.0, help="frames per second of each camera")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement time per setup")
    p.add_argument("--threads", type=int, default=2, help="inference threads (split between per-camera nodes)")
    p.add_argument("--engine", choices=("onnx", "torch"), default="onnx")
    p.add_argument("--weights", default=str(ROOT / "weights" / "cleanpose_lite.pt"))
    args = p.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="cleanpose-bench-roslog-"))
    from cleanpose_ros.resources import ensure_fastdds_profile

    ensure_fastdds_profile()
    rows = []
    for n in args.cameras:
        for shared in ([True] if n == 1 else [True, False]):
            rows.append((n, shared, run_setup(n, shared, args, args.weights)))
            print(f"done: {n} camera(s), {'one node' if shared else 'a node per camera'}", file=sys.stderr)
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; cameras {args.rate} Hz 640x480 each; engine {args.engine}; {args.seconds:.0f} s per setup\n")
    print("| cameras | setup | inference threads | arrays/s | poses/s | frames processed | frames per engine call |"
          " end-to-end p50 / p95 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, shared, r in rows:
        setup = "one node (batched)" if shared else f"{n} nodes"
        per_call = f"{r['frames_per_call']:.2f}" if shared else "1"
        print(f"| {n} | {setup} | {r['threads']}{'' if shared else ' each'} | {r['arrays_per_s']:.1f} | {r['poses_per_s']:.1f} |"
              f" {100 * r['processed']:.0f} % | {per_call} | {r['p50']:.0f} / {r['p95']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
