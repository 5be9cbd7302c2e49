"""cleanpose-train: train (or resume) a CleanPose model from a YAML config.

  cleanpose-train --config config/train/lite_synthetic.yaml --out runs/lite
  (run the same command again to resume from the newest checkpoint in --out)

Data parallel, unchanged otherwise (training/distributed.py; gloo on CPUs, NCCL on GPUs; batch_size is the
global batch and must divide by the number of processes):
  torchrun --standalone --nproc_per_node 2 -m cleanpose_ros.tools.train --config ... --out ...
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from ..core.config import from_dict, to_dict
from ..core.errors import CleanPoseError
from ..training.config import TrainConfig, load_train_config, resolve_model_config


def build_datasets(cfg: TrainConfig, model_config) -> list:
    """One dataset per source, preprocessing exactly as the model expects: a NocsPoseDataset, or its
    sample cache (built first when missing or stale) for sources with `cache: true`."""
    from ..data.augment import InputAugmentConfig
    from ..data.sample_cache import CachedPoseDataset, build_sample_cache
    from ..data.training_dataset import NocsPoseDataset

    pre = replace(cfg.preprocess, num_points=model_config.num_points, crop_size=model_config.crop_size)
    augment = InputAugmentConfig() if cfg.augment else None
    datasets = []
    for src in cfg.data:
        plain = NocsPoseDataset(src.path, source=src.source, split=src.split, cfg=pre,
                                augment=None if src.cache else augment, seed=cfg.seed, use_categories=src.categories,
                                yaw_range_deg=src.yaw_range_deg, yaw_categories=src.yaw_categories)
        if not src.cache:
            datasets.append(plain)
            continue
        subset = hashlib.sha256(json.dumps([src.categories, src.yaw_range_deg, src.yaw_categories]).encode()).hexdigest()[:8]
        cache_dir = Path(src.path) / ".sample_cache" / f"{src.source}_{src.split}_{model_config.crop_size}px_{subset}"
        build_sample_cache(plain, cache_dir, pool_points=src.cache_pool_points, workers=os.cpu_count() or 1,
                           object_mask_distance=model_config.recon.mask_distance)
        datasets.append(CachedPoseDataset(cache_dir, model_config.num_points, augment, seed=cfg.seed))
    return datasets


def export_weights(checkpoint: str | Path, out: str | Path) -> Path:
    """A deployable copy of a training checkpoint: model, config, queue, step and provenance,
    without the optimiser and RNG state (a third of the size)."""
    from ..model.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(checkpoint)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(out, loaded.model, loaded.config, step=loaded.step, extra=loaded.extra)


def export_training_state(checkpoint: str | Path, out: str | Path) -> Path:
    """A compact resumable copy of a training checkpoint for the repository: weights, confounder queue,
    step, RNG states and the optimiser with its Adam moments stored as bfloat16 (Adam's moments need
    range, not precision; loading casts them back to float32). A third smaller than the checkpoint;
    resuming from it is not bit-identical to resuming from the checkpoint, only statistically the same."""
    import torch

    from ..model.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(checkpoint)
    state = dict(loaded.optimizer_state or {})
    if "optimizer" in state:
        opt = dict(state["optimizer"])
        opt["state"] = {k: {n: (v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0
                                else v) for n, v in per_param.items()} for k, per_param in opt["state"].items()}
        state["optimizer"] = opt
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(out, loaded.model, loaded.config, step=loaded.step, extra=loaded.extra,
                           optimizer_state=state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train or resume a CleanPose model.")
    parser.add_argument("--config", required=True, help="training YAML (see config/train/)")
    parser.add_argument("--out", required=True, help="run directory: checkpoints, metrics.csv, tensorboard/")
    parser.add_argument("--steps", type=int, help="override the config's number of steps")
    parser.add_argument("--data", action="append", help="override the data sources: PATH[:SPLIT] (repeatable; "
                        "the first configured source's other settings, e.g. layout and cache, are kept)")
    parser.add_argument("--teacher", help="override the distillation teacher file ('' = none)")
    parser.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run")
    parser.add_argument("--resume-from", help="a training state (e.g. weights/training_state/*.pt) to continue "
                        "from when --out holds no checkpoint yet")
    parser.add_argument("--export", help="also write the final weights, without optimiser state, here "
                        "(e.g. weights/cleanpose_lite.pt)")
    parser.add_argument("--half-cycle-steps", type=int, help="override the config's LR half cycle")
    parser.add_argument("--minutes", type=float, help="stop after this much wall time (checkpoint at the step reached)")
    parser.add_argument("--no-compile", action="store_true", help="override the config's compile: false (torch.compile "
                        "takes minutes on a CPU, longer than a short run)")
    parser.add_argument("--workers", type=int, help="override the config's num_workers (data loader processes)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from ..training.distributed import DataParallel
    from ..training.trainer import Trainer, latest_checkpoint

    parallel = None
    try:
        cfg = load_train_config(args.config)
        if args.steps is not None:
            cfg = replace(cfg, steps=args.steps)
        if args.no_compile:
            cfg = replace(cfg, compile=False)
        if args.workers is not None:
            cfg = replace(cfg, num_workers=args.workers)
        if args.half_cycle_steps is not None:
            cfg = replace(cfg, optim=replace(cfg.optim, half_cycle_steps=args.half_cycle_steps))
        if args.data:
            # new paths (and splits); the other settings of the config's first source (layout, cache) are kept
            first = {k: v for k, v in to_dict(cfg.data[0]).items() if k not in ("path", "split")}
            sources = [{**first, **(dict(zip(("path", "split"), d.rsplit(":", 1))) if ":" in d else {"path": d})}
                       for d in args.data]
            cfg = from_dict(TrainConfig, {**to_dict(cfg), "data": sources})
        if args.teacher is not None:
            cfg = replace(cfg, teacher=args.teacher or None)
        model_config = resolve_model_config(cfg)
        out = Path(args.out)
        parallel = DataParallel.from_environment(cfg.device)
        if not parallel.is_main:  # one progress bar and one log: rank 0's
            logging.getLogger().setLevel(logging.WARNING)
        with parallel.main_first():  # rank 0 builds missing sample caches, the others then read them
            datasets = build_datasets(cfg, model_config)
        trainer = Trainer(cfg, out, datasets, model_config=model_config, parallel=parallel)
        ckpt = latest_checkpoint(out)
        if ckpt is not None:
            if args.no_resume:
                print(f"error: {out} already holds checkpoints ({ckpt.name}); remove it or drop --no-resume",
                      file=sys.stderr)
                return 2
            trainer.resume(ckpt)
        elif args.resume_from:
            trainer.resume(Path(args.resume_from))
        final = trainer.run(progress=not args.no_progress,
                            time_budget_s=60.0 * args.minutes if args.minutes is not None else None)
    except CleanPoseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if parallel is not None:
            parallel.close()
    if not parallel.is_main:
        return 0
    print(f"final checkpoint: {final} (step {trainer.step})")
    if args.export:
        print(f"exported weights (no optimiser state): {export_weights(final, args.export)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
