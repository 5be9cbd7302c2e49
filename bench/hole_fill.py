"""Hole filling: `fast` (per crop, nearest-surface dilation) vs `multiscale` (whole-frame reference-style
morphological completion), measured on synthetic frames where the clean rendered depth is known.

    .venv/bin/python bench/hole_fill.py --frames 20

Times are CPU time of this process (the shared machine's load does not inflate them).
For every annotated object: the pixels of its mask that the sensor model dropped (noisy depth 0,
clean depth > 0) are filled, and the filled depth is compared with the clean depth there.
Also times `preprocess_instances` per frame for hole_fill = none / fast / multiscale.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args()

    from cleanpose_ros.core.config import PreprocessConfig
    from cleanpose_ros.core.preprocess import fill_holes_fast, fill_holes_multiscale, preprocess_instances, square_crop_window, mask_bbox
    from cleanpose_ros.core.types import Frame, Instance
    from cleanpose_ros.data.generator import GeneratorConfig, SceneGenerator

    gen = SceneGenerator(GeneratorConfig(out=Path("/nonexistent"), frames=args.frames, seed=args.seed,
                                         views_per_scene=1, models_per_category=10))
    errors = {"fast": [], "multiscale": []}
    covered = {"fast": [0, 0], "multiscale": [0, 0]}
    times = {"none": [], "fast": [], "multiscale": []}
    for scene in range(args.frames):
        f = gen.render_scene(scene)[0]
        frame = Frame(rgb=f.rgb, depth_m=f.depth_m, intrinsics=f.intrinsics)
        insts = [Instance(a.instance_id, a.category, f.mask == a.instance_id) for a in f.annotations]
        multi = fill_holes_multiscale(f.depth_m, 3.0)
        for inst in insts:
            y1, x1, y2, x2 = square_crop_window(mask_bbox(inst.mask), f.mask.shape, 40, 440)
            fast = np.zeros_like(f.depth_m)
            fast[y1:y2, x1:x2] = fill_holes_fast(f.depth_m[y1:y2, x1:x2], 3.0, support=inst.mask[y1:y2, x1:x2])
            holes = inst.mask & (f.depth_m == 0) & (f.clean_depth_m > 0)
            for name, filled in (("fast", fast), ("multiscale", multi)):
                ok = holes & (filled > 0)
                covered[name][0] += int(ok.sum())
                covered[name][1] += int(holes.sum())
                errors[name].append(np.abs(filled[ok] - f.clean_depth_m[ok]))
        for mode in times:
            cfg = PreprocessConfig(hole_fill=mode)
            t0 = time.process_time()
            preprocess_instances(frame, insts, cfg)
            times[mode].append((time.process_time() - t0) * 1000)
    for name in errors:
        e = np.concatenate(errors[name]) * 1000
        print(f"{name:10s} holes filled {covered[name][0]}/{covered[name][1]} "
              f"({100 * covered[name][0] / max(covered[name][1], 1):.1f}%), abs error mm: "
              f"mean {e.mean():.1f} median {np.median(e):.1f} p90 {np.percentile(e, 90):.1f}")
    for mode, t in times.items():
        print(f"preprocess_instances hole_fill={mode:10s}: median {np.median(t):.1f} ms/frame")


if __name__ == "__main__":
    main()
