"""Parameter counts and per-object CPU latency of the named model configs.

Usage: .venv/bin/python bench/model_size.py [--configs lite paper] [--threads 2] [--repeats 20]
Latency is the median (and minimum) wall time of one inference-module forward (eval, no_grad) for
1 and 5 objects on random well-formed inputs; the machine's other load shows up in the median.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from tqdm import tqdm

from cleanpose_ros.model.config import load_model_config
from cleanpose_ros.model.network import CleanPose, example_inputs


def measure(module: torch.nn.Module, inputs: dict[str, torch.Tensor], repeats: int) -> tuple[float, float]:
    """(median, min) milliseconds of module(**inputs)."""
    times = []
    with torch.no_grad():
        for _ in range(3):
            module(**inputs)
        for _ in range(repeats):
            t0 = time.perf_counter()
            module(**inputs)
            times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["lite", "paper"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in tqdm(args.configs, desc="configs"):
        config = load_model_config(name)
        model = CleanPose(config)
        module = model.inference_module()
        counts = {
            "total": model.parameter_count(),
            "trainable": model.parameter_count(trainable_only=True),
            "image": sum(p.numel() for p in model.image_encoder.parameters()),
            "point": sum(p.numel() for p in model.point_encoder.parameters()),
        }
        timings = {b: measure(module, example_inputs(config, b), args.repeats) for b in args.batches}
        rows.append((name, counts, timings))
    print(f"\nCPU latency, torch {torch.__version__}, {args.threads} threads, median (min) of {args.repeats} runs")
    header = f"{'config':8s} {'params':>11s} {'trainable':>11s} {'image enc':>10s} {'point enc':>10s}"
    for b in args.batches:
        header += f" {f'{b} obj ms':>16s} {'ms/obj':>7s}"
    print(header)
    for name, counts, timings in rows:
        line = (f"{name:8s} {counts['total']:11,d} {counts['trainable']:11,d} {counts['image']:10,d} "
                f"{counts['point']:10,d}")
        for b in args.batches:
            med, best = timings[b]
            line += f" {med:8.1f} ({best:5.1f}) {med / b:7.1f}"
        print(line)


if __name__ == "__main__":
    main()
