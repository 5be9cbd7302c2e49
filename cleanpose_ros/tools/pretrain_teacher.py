"""cleanpose-pretrain-teacher: train the small PointNet distillation teacher on procedural shapes.

Used when no ULIP-2 PointBERT checkpoint is available (none can be downloaded here). The result is
what `teacher:` in a training YAML points at. Example:
  cleanpose-pretrain-teacher --out runs/teacher_pointnet.pt --steps 1000
"""
from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output file (loaded by model.teacher.load_teacher)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--num-points", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes-per-category", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from ..model.teacher import save_pointnet_teacher
    from ..model.teacher_pretrain import pretrain_pointnet_teacher

    torch.set_num_threads(args.threads)
    teacher, metrics = pretrain_pointnet_teacher(steps=args.steps, batch=args.batch, num_points=args.num_points,
                                                 seed=args.seed, shapes_per_category=args.shapes_per_category)
    save_pointnet_teacher(args.out, teacher, extra={"metrics": metrics, "source": teacher.source})
    print(json.dumps({"out": args.out, **metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
