#!/usr/bin/env python3
"""Where preprocessing spends its time: cProfile table and per-object medians.

Runs `core.preprocess.preprocess_instances` on 640x480 synthetic frames (verification/sample_frames.py)
with N objects, the node's default preprocessing (lite: 256 points, 128 px crops, outlier removal),
and prints (1) the median milliseconds per frame and per object over `--repeats` calls and (2) the
cProfile table of those calls sorted by own time, so a change to the hot path shows before/after.

  .venv/bin/python bench/profile_preprocess.py                 # 5 objects, 200 repeats
  .venv/bin/python bench/profile_preprocess.py --objects 10 --top 15
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from cprofile_table import profile_table  # noqa: E402  (bench/, next to this script)
from cleanpose_ros.core.config import PreprocessConfig  # noqa: E402
from cleanpose_ros.core.preprocess import preprocess_instances  # noqa: E402
from cleanpose_ros.verification.sample_frames import synthetic_frame  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=5)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--top", type=int, default=12, help="rows of the profile table")
    args = p.parse_args(argv)
    cfg = PreprocessConfig(num_points=256, crop_size=128, outlier_removal=True)
    frame, instances = synthetic_frame(args.objects, seed=3)
    batch, rejected = preprocess_instances(frame, instances, cfg)
    assert batch is not None and not rejected, rejected
    for _ in range(10):  # warm-up
        preprocess_instances(frame, instances, cfg)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        preprocess_instances(frame, instances, cfg)
        times.append((time.perf_counter() - t0) * 1e3)
    p50, p95 = np.percentile(times, [50, 95])
    print(f"preprocess_instances, 640x480, {args.objects} objects, {args.repeats} calls: "
          f"p50 {p50:.2f} ms / p95 {p95:.2f} ms per frame, {p50 / args.objects:.3f} ms per object (p50)\n")
    print(f"cProfile, {args.repeats} calls, sorted by own time (tottime, s):")
    print(profile_table(lambda: preprocess_instances(frame, instances, cfg), args.repeats, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
