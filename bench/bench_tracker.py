#!/usr/bin/env python3
"""Time the tracker adds per frame (core/tracker.py), for 1 / 5 / 10 / 20 tracked objects.

  .venv/bin/python bench/bench_tracker.py [--frames 300]

Objects of random categories on a table, seen with pose noise (2 deg, 3 mm) and shuffled segmenter ids;
prints a markdown table of the median and p95 milliseconds of `Tracker.update`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    args = p.parse_args()
    from cleanpose_ros.core.geometry import axis_angle_to_rotation, random_rotation
    from cleanpose_ros.core.tracker import Tracker
    from cleanpose_ros.core.types import CATEGORIES, PoseEstimate

    rng = np.random.default_rng(0)
    print("| objects | median ms | p95 ms |\n|---|---|---|")
    for n in (1, 5, 10, 20):
        truth = [(CATEGORIES[k % 6], random_rotation(rng), np.array([0.15 * (k % 5) - 0.3, 0.15 * (k // 5), 0.9]))
                 for k in range(n)]
        tracker, times = Tracker(), []
        for _ in range(args.frames):
            ids = rng.permutation(n) + 1
            poses = [PoseEstimate(int(ids[k]), c, 1.0, r @ axis_angle_to_rotation(rng.normal(size=3), np.radians(2)),
                                  t + rng.normal(scale=0.003, size=3), np.array([0.1, 0.1, 0.1]), confidence=0.8)
                     for k, (c, r, t) in enumerate(truth)]
            start = time.perf_counter()
            tracker.update(poses)
            times.append(1e3 * (time.perf_counter() - start))
        print(f"| {n} | {np.median(times):.3f} | {np.percentile(times, 95):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
