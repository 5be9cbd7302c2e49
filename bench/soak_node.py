#!/usr/bin/env python3
"""Soak: the node under a live 30 Hz camera for minutes, its memory sampled, as separate processes.

Prints start / end / max resident memory of the node process (from /proc, every --every seconds) and
the frames it processed and superseded (its /diagnostics), so a leak or a stall shows as numbers.

  .venv/bin/python bench/soak_node.py [--minutes 10] [--rate 30] [--weights weights/cleanpose_lite.pt]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0, help="demo camera frame rate, Hz")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--weights", default=str(ROOT / "weights" / "cleanpose_lite.pt"))
    parser.add_argument("--threads", type=int, default=1, help="inference threads of the node")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))  # private, local, before rclpy starts
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="cleanpose-soak-roslog-"))
    from cleanpose_ros.resources import ensure_fastdds_profile

    ensure_fastdds_profile()
    import rclpy
    from rclpy.node import Node
    from tqdm import tqdm

    from test.support.processes import node_diagnostics, start_node_and_camera, stop

    node, camera = start_node_and_camera(args.weights, args.rate, args.threads)
    rclpy.init()
    probe = Node("cleanpose_soak_probe")
    latest = node_diagnostics(probe)
    samples: list[tuple[float, float]] = []
    try:
        deadline = time.monotonic() + 120.0
        while int(latest.get("frames_out", "0")) == 0 and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
        if not latest:
            print("no diagnostics from the node", file=sys.stderr)
            return 1
        start = dict(latest)
        t0 = time.monotonic()
        total = args.minutes * 60.0
        with tqdm(total=int(total), unit="s", desc="soak") as bar:
            next_sample = t0
            while time.monotonic() - t0 < total:
                rclpy.spin_once(probe, timeout_sec=0.1)
                if time.monotonic() >= next_sample:
                    samples.append((time.monotonic() - t0, rss_mb(node.pid)))
                    next_sample += args.every
                    bar.n = int(time.monotonic() - t0)
                    bar.set_postfix(rss_mb=f"{samples[-1][1]:.0f}", out=latest.get("frames_out"))
                if node.poll() is not None or camera.poll() is not None:
                    print("a process exited during the soak", file=sys.stderr)
                    return 1
        samples.append((time.monotonic() - t0, rss_mb(node.pid)))
    finally:
        probe.destroy_node()
        rclpy.shutdown()
        stop(camera)
        stop(node)
    rss = [m for _, m in samples]
    processed = int(latest["frames_out"]) - int(start.get("frames_out", "0"))
    superseded = int(latest["dropped_superseded"]) - int(start.get("dropped_superseded", "0"))
    print(f"\n{args.minutes:g} min at {args.rate:g} Hz, {len(samples)} memory samples of the node process")
    print("| RSS start MiB | RSS end MiB | RSS max MiB | end - start MiB | frames processed | superseded | latency p95 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {rss[0]:.1f} | {rss[-1]:.1f} | {max(rss):.1f} | {rss[-1] - rss[0]:+.1f} | {processed} | {superseded} |"
          f" {latest.get('latency_p95_ms')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
