"""cleanpose-generate: synthetic RGB-D frames in the NOCS on-disk format.

Example (a training split of 4000 frames on 2 cores):
    cleanpose-generate --out data/gen_train --frames 4000 --seed 1 --workers 2
    -> data/gen_train/real/train/scene_N/XXXX_*, data/gen_train/real/train_list{,_all}.txt,
       data/gen_train/gts/real_train/, data/gen_train/obj_models/real_train.pkl
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from ..core.types import CAMERA25_INTRINSICS, REAL275_INTRINSICS

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cleanpose-generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="output root (plays the role of the NOCS data/ folder)")
    p.add_argument("--frames", type=int, default=100, help="number of frames (default 100)")
    p.add_argument("--seed", type=int, default=0, help="master seed; same seed -> byte-identical frames")
    p.add_argument("--workers", type=int, default=1, help="worker processes (one GL context each)")
    p.add_argument("--split", default="train", help="split name: train, val or test (default train)")
    p.add_argument("--source", default="real", choices=["real", "camera", "housecat"],
                   help="tree layout: 'real' = REAL275-like (scene_N, REAL275 intrinsics), "
                        "'camera' = CAMERA-like (NNNNN dirs, camera_full_depths, CAMERA intrinsics), "
                        "'housecat' = HouseCat6D-like (sceneNN / test_sceneN, labels/, only bottle/can/mug labelled)")
    p.add_argument("--views-per-scene", type=int, default=5, help="camera views rendered per object layout")
    p.add_argument("--sequence-rate", type=float, default=0.0, metavar="HZ",
                   help="render each layout as a sequence of --views-per-scene frames at HZ from a hand-held camera "
                        "circling the table (e.g. --views-per-scene 300 --sequence-rate 30); 0 = independent views")
    p.add_argument("--models-per-category", type=int, default=40,
                   help="procedural model instances per category (the seed picks them)")
    p.add_argument("--objects", type=int, nargs=2, default=(3, 6), metavar=("MIN", "MAX"))
    p.add_argument("--distractors", type=int, nargs=2, default=(2, 6), metavar=("MIN", "MAX"))
    p.add_argument("--no-depth-noise", action="store_true", help="write the clean rendered depth")
    p.add_argument("--rgb-noise", type=float, default=0.0, metavar="STD",
                   help="Gaussian pixel noise of the colour image, 8-bit units (default 0: the training "
                        "augmentation adds noise; noisy PNGs are ~4x larger and slower to write)")
    p.add_argument("--segmentation", action="store_true",
                   help="also write results/nocs_results/<source>_<split>/results_*.pkl with GT masks as predictions")
    p.add_argument("--no-resume", action="store_true", help="re-render frames that already exist")
    p.add_argument("--overview", type=Path, default=None, metavar="PNG",
                   help="write an overview image (colour+boxes+axes, depth, mask, NOCS) of the first frame")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.frames < 1 or args.workers < 1 or args.views_per_scene < 1 or args.models_per_category < 1:
        print("cleanpose-generate: --frames, --workers, --views-per-scene, --models-per-category must be >= 1",
              file=sys.stderr)
        return 2
    from ..data.generator import GeneratorConfig, generate_dataset
    from ..data.render import RendererUnavailable

    cfg = GeneratorConfig(
        out=args.out, frames=args.frames, seed=args.seed, split=args.split, source=args.source,
        views_per_scene=args.views_per_scene, sequence_rate_hz=args.sequence_rate,
        models_per_category=args.models_per_category,
        num_objects=tuple(args.objects), num_distractors=tuple(args.distractors),
        depth_noise=not args.no_depth_noise, rgb_noise_std=args.rgb_noise, write_segmentation=args.segmentation,
        intrinsics=CAMERA25_INTRINSICS if args.source == "camera" else REAL275_INTRINSICS)
    t0 = time.perf_counter()
    try:
        written = generate_dataset(cfg, workers=args.workers, resume=not args.no_resume, progress=not args.quiet)
    except RendererUnavailable as e:
        print(f"cleanpose-generate: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    print(f"{len(written)} frames ({sum(w.num_labelled > 0 for w in written)} with objects) in {dt:.1f} s "
          f"= {len(written) / max(dt, 1e-9):.1f} frames/s -> {args.out}")
    if args.overview is not None and args.source == "housecat":
        print("--overview is available for the NOCS layouts only", file=sys.stderr)
    elif args.overview is not None:
        from ..data.overview import overview_from_files

        first = sorted(written, key=lambda w: w.rel)[0]
        img = overview_from_files(cfg.layout.prefix(first.rel), cfg.intrinsics)
        args.overview.parent.mkdir(parents=True, exist_ok=True)
        img.save(args.overview)
        print(f"overview of {first.rel} -> {args.overview}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
