"""cleanpose-learning-curve: per-class learning curves of a training run (training.learning_curve).

  cleanpose-learning-curve --run runs/lite_orient --eval 48000=runs/eval_2000 --eval 96000=runs/eval_4000 \\
      --offset-samples 144000 --out weights/learning_curve.png
--eval SAMPLES=DIR: an evaluation (DIR/metrics.json) of the checkpoint that had seen SAMPLES object samples.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cleanpose-learning-curve", description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="training run folder (holds metrics.csv)")
    p.add_argument("--eval", action="append", default=[], metavar="SAMPLES=DIR", help="evaluated checkpoint")
    p.add_argument("--offset-samples", type=float, default=0.0, help="samples the starting weights had seen")
    p.add_argument("--title", default="")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = p.parse_args(argv)
    from cleanpose_ros.training.learning_curve import plot_learning_curves

    evaluations = []
    for item in args.eval:
        samples, _, folder = item.partition("=")
        if not folder or not (Path(folder) / "metrics.json").is_file():
            print(f"cleanpose-learning-curve: --eval {item!r}: expected SAMPLES=DIR with DIR/metrics.json", file=sys.stderr)
            return 2
        evaluations.append((float(samples), Path(folder) / "metrics.json"))
    if not (args.run / "metrics.csv").is_file():
        print(f"cleanpose-learning-curve: no metrics.csv in {args.run}", file=sys.stderr)
        return 2
    print(plot_learning_curves(args.run / "metrics.csv", evaluations, args.out, args.offset_samples, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
