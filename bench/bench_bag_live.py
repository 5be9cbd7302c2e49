#!/usr/bin/env python3
"""The node under a played bag: frames processed and dropped at 1x and 2x speed, plus the
offline replay's real-time factor on the same bag.

Generates `--frames` NOCS-format frames, makes a 30 Hz bag (cleanpose-make-bag), then for each
rate starts `cleanpose_node` as its own process (use_sim_time, as a deployment replaying a bag),
plays the bag into it with the bag clock, records its outputs and evaluates the recording
(bags/live_evaluation.py). Without --weights a random-initialised lite checkpoint is used: the
timing does not depend on the weight values (the metrics then mean nothing).

  .venv/bin/python bench/bench_bag_live.py [--frames 60] [--rates 1 2] [--weights weights/cleanpose_lite.pt]
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
    parser.add_argument("--frames", type=int, default=60, help="frames in the bag (30 Hz stamps)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 2.0], help="playback speed factors")
    parser.add_argument("--weights", default="", help="checkpoint; default: a random-init lite checkpoint")
    parser.add_argument("--threads", type=int, default=1, help="inference threads of the node")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    args = parser.parse_args()

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="cleanpose-bench-roslog-"))
    from cleanpose_ros.resources import ensure_fastdds_profile

    ensure_fastdds_profile()
    import torch

    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="cleanpose-bench-bag-"))
    weights = args.weights
    if not weights:
        from test.ros.conftest import make_random_lite_checkpoint

        weights = str(make_random_lite_checkpoint(work / "random_lite.pt"))

    from cleanpose_ros.bags.make_bag import make_bag
    from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset
    from cleanpose_ros.data.nocs_reader import NocsReader
    from cleanpose_ros.evaluation.runner import nocs_samples

    data, bag = work / "nocs", work / "bag"
    if not bag.exists():
        generate_dataset(GeneratorConfig(out=data, frames=args.frames, seed=5, split="test"), workers=2)
        reader = NocsReader(data, "real", "test")
        make_bag(nocs_samples(reader), bag, total=len(reader))

    import rclpy

    from cleanpose_ros.bags.live import play_and_record
    from cleanpose_ros.bags.live_evaluation import evaluate_recording
    from test.support.processes import start_python, stop

    rows = []
    for rate in args.rates:
        node_proc = start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={weights}",
                                  "-p", f"inference.num_threads:={args.threads}", "-p", "use_sim_time:=true",
                                  "-p", "health.log_period_s:=0.0", "-p", "health.diagnostics_period_s:=0.5"])
        rclpy.init()
        record = work / f"record_{rate:g}x"
        try:
            stats, _ = play_and_record(bag, record, rate=rate, settle_s=3.0, subscriber_timeout_s=120.0)
        finally:
            rclpy.try_shutdown()
            log = stop(node_proc)
        result = evaluate_recording(bag, record, work / f"eval_{rate:g}x")
        d = result.diagnostics
        rows.append((rate, stats, result, d))
        if result.frames_processed == 0:
            print(log[-2000:], file=sys.stderr)

    from cleanpose_ros.bags.replay import replay_bag
    from cleanpose_ros.ros.node_pipeline import build_pipeline
    from cleanpose_ros.ros.params import InferenceParams, NodeConfig

    pipeline = build_pipeline(NodeConfig(inference=InferenceParams(weights=weights, num_threads=args.threads)))
    t0 = time.perf_counter()
    replay = replay_bag(bag, pipeline, work / "replay", plots=False, overwrite=True)
    replay_wall = time.perf_counter() - t0

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {args.threads} thread(s); "
          f"bag: {args.frames} frames at 30 Hz ({rows[0][1].bag_s:.2f} s)\n")
    print("| speed | frames in bag | processed | dropped | node: superseded | node: stale | node: unmatched "
          "| processing p50 ms | latency p50 ms | worst player lag ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rate, stats, result, d in rows:
        print(f"| {rate:g}x | {result.frames_in_bag} | {result.frames_processed} | {result.frames_dropped} "
              f"| {d.get('dropped_superseded', '?')} | {d.get('rejected_stale', '?')} | {d.get('dropped_unmatched', '?')} "
              f"| {d.get('processing_p50_ms', '?')} | {d.get('latency_p50_ms', '?')} | {stats.max_lag_ms:.1f} |")
    print(f"\noffline cleanpose-replay of the same bag: {replay.frames} frames, pipeline {replay.processing_s:.2f} s "
          f"({replay_wall:.2f} s with reading and writing), real-time factor {replay.realtime_factor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
