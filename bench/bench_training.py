#!/usr/bin/env python3
"""Training throughput: object samples per second and where a step's time goes, for the uncached
data path (PNG decoding + preprocessing in DataLoader workers) against the sample cache
(data/sample_cache.py), in one run on the same machine with the same model, objective and batch.

  .venv/bin/python bench/bench_training.py --data data/gen_train_v2 [--steps 40] [--threads 2]

Builds the data folder's sample cache first when it is missing (progress bar; resumable). Prints the
machine and a markdown table: samples/s, seconds per step and the per-phase means (data wait,
forward + loss, backward, optimiser, health signal). The last row adds torch.compile of the network's
parts (TrainConfig.compile; its warm-up steps absorb the compilation). On a machine also running something else,
compare the ratio between rows, not the absolute numbers.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout, no install needed


def _variant_row(name: str, cfg, out: Path) -> dict[str, float | str]:
    from cleanpose_ros.tools.train import build_datasets
    from cleanpose_ros.training.config import resolve_model_config
    from cleanpose_ros.training.trainer import Trainer

    model_config = resolve_model_config(cfg)
    datasets = build_datasets(cfg, model_config)
    trainer = Trainer(cfg, out, datasets, model_config=model_config)
    trainer.run(progress=True)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    last = {k: float(v) for k, v in rows[-1].items() if v}  # the timed window after the warm-up row
    return {"variant": name, "samples/s": last["object_samples_per_sec"], "s/step": last["sec_per_step"],
            **{k.split("/")[1]: last[k] for k in last if k.startswith("time/")}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a generated NOCS-format folder with a train split")
    p.add_argument("--config", default="config/train/lite_orient.yaml", help="training YAML (model, objective, batch)")
    p.add_argument("--steps", type=int, default=40, help="timed steps per variant (after as many warm-up steps)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    from cleanpose_ros.core.config import from_dict, to_dict
    from cleanpose_ros.training.config import TrainConfig, load_train_config

    base = load_train_config(args.config)
    variants = [("uncached, 2 workers", False, 2, False), ("sample cache, 1 worker", True, 1, False),
                ("sample cache, 2 workers", True, 2, False), ("sample cache, 1 worker, compiled", True, 1, True)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, cache, workers, compiled in variants:
            data = [{"path": args.data, "source": "real", "split": "train", "cache": cache}]
            cfg = from_dict(TrainConfig, {**to_dict(base), "data": data, "steps": 2 * args.steps,
                                          "log_every": args.steps, "checkpoint_every": 10 ** 9,
                                          "num_workers": workers, "threads": args.threads, "init_from": None,
                                          "compile": compiled})
            cfg = replace(cfg, teacher=base.teacher if base.teacher and Path(base.teacher).is_file() else None)
            results.append(_variant_row(name, cfg, Path(tmp) / name.replace(" ", "_").replace(",", "")))
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{args.threads}; model {base.model}, batch {base.batch_size}, {args.steps} timed steps per row\n")
    cols = ["variant", "samples/s", "s/step", "data", "forward", "backward", "optimiser", "health"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(str(r[c]) if isinstance(r[c], str) else f"{r[c]:.3f}" for c in cols) + " |")
    ratio = results[1]["samples/s"] / results[0]["samples/s"]
    print(f"\nsample cache (1 worker) / uncached: {ratio:.2f}x object samples per second")
    ratio = results[3]["samples/s"] / results[0]["samples/s"]
    print(f"sample cache (1 worker) + torch.compile / uncached: {ratio:.2f}x object samples per second "
          "(the compiled row's timed window starts after the compilation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
