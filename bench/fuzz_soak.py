#!/usr/bin/env python3
"""Longer fuzzing than CI: the property tests of test/ros/test_fuzz_converters.py and
test/core/test_fuzz_pipeline.py with SCALE times their example counts, printing hypothesis'
statistics (cases run, how many produced poses, which refusals).

  .venv/bin/python bench/fuzz_soak.py [--scale 20]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=20, help="multiplier of the CI example counts (default 20)")
    args = p.parse_args(argv)
    env = {**os.environ, "CLEANPOSE_FUZZ_SCALE": str(args.scale), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
                            "test/ros/test_fuzz_converters.py", "test/core/test_fuzz_pipeline.py"], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
