#!/usr/bin/env python3
"""Per-frame pipeline latency: p50 / p95 of preprocess, engine, postprocess and total.

Frames are 640x480 synthetic RGB-D frames (verification/sample_frames.py) with 1, 5 and 10 objects;
networks are the named model configs, with the shipped weights `weights/cleanpose_<config>.pt`
when they exist and random-initialised weights otherwise (timing does not depend on the weight
values; the size head's bias is shifted so random weights give positive sizes and postprocessing
builds every pose, as with trained weights). Prints the machine description and a markdown table.

  .venv/bin/python bench/bench_pipeline.py                      # CPU: torch vs onnxruntime, lite + paper
  .venv/bin/python bench/bench_pipeline.py --device cuda        # GPU: torch fp32 / jit / fp16 (+ onnx CUDA if available)
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout, no install needed
import cleanpose_ros.engines  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads, see its docstring)

STAGES = ("preprocess", "engine", "postprocess", "total")


@dataclass(frozen=True)
class Row:
    config: str
    engine: str
    provider: str
    objects: int
    frames: int
    p50: dict[str, float]
    p95: dict[str, float]


def machine_description(device: str) -> str:
    import onnxruntime
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [f"- CPU: {cpu}; {os.cpu_count()} logical cores visible, torch threads {torch.get_num_threads()}",
             f"- Python {platform.python_version()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__} "
             f"(providers {onnxruntime.get_available_providers()})"]
    if device.startswith("cuda") and torch.cuda.is_available():
        lines.append(f"- GPU: {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}")
    try:
        load = os.getloadavg()
        lines.append(f"- load average at start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)")
    except OSError:
        pass
    return "\n".join(lines)


def build_engines(config_name: str, engines: list[str], device: str, threads: int, workdir: Path):
    """Yield (label, engine) for a random-initialised model of a named config."""
    import torch

    from cleanpose_ros.core.engine import ProviderUnavailableError
    from cleanpose_ros.engines.config import EngineConfig
    from cleanpose_ros.engines.export import export_model
    from cleanpose_ros.engines.onnx_engine import OnnxEngine
    from cleanpose_ros.engines.torch_engine import TorchEngine
    from cleanpose_ros.model.config import load_model_config
    from cleanpose_ros.model.network import CleanPose

    shipped = Path(__file__).resolve().parents[1] / "weights" / f"cleanpose_{config_name}.pt"
    if shipped.is_file():
        from cleanpose_ros.model.checkpoint import load_checkpoint

        model = load_checkpoint(shipped).model.eval()
    else:
        torch.manual_seed(0)
        model = CleanPose(load_model_config(config_name)).eval()
        with torch.no_grad():
            model.pose_head.size[-1].bias.add_(0.3)
    if "torch" in engines:
        yield "torch fp32", TorchEngine(model, EngineConfig(kind="torch", device=device, num_threads=threads))
        yield "torch fp32 jit", TorchEngine(model, EngineConfig(kind="torch", device=device, num_threads=threads,
                                                                jit=True))
        if device.startswith("cuda"):
            yield "torch fp16", TorchEngine(model, EngineConfig(kind="torch", device=device, precision="fp16"))
    if "onnx" in engines:
        path = export_model(model, workdir / f"{config_name}.onnx", seed=0)
        try:
            yield "onnx", OnnxEngine(path, EngineConfig(kind="onnx", device=device, num_threads=threads))
            if device == "cpu" and threads >= 2:  # the objects in `threads` parts, one thread each
                yield f"onnx {threads} parts", OnnxEngine(path, EngineConfig(kind="onnx", parallel_batches=threads))
        except ProviderUnavailableError as e:
            print(f"skipping onnx on {device}: {e}", file=sys.stderr)


def time_pipeline(pipeline, frames, warmup: int, cell_seconds: float) -> tuple[int, dict[str, float], dict[str, float]]:
    """Time the pipeline on `frames` in order; stops early after `cell_seconds` (at least 5 frames).

    Returns (frames timed, p50 per stage, p95 per stage) in milliseconds.
    """
    for frame, instances in frames[:warmup]:
        pipeline(frame, instances)
    samples: dict[str, list[float]] = {s: [] for s in STAGES}
    start = time.perf_counter()
    for k, (frame, instances) in enumerate(frames):
        result = pipeline(frame, instances)
        if len(result.poses) + len(result.rejected) != len(instances):
            raise RuntimeError("pipeline lost instances")
        for stage, ms in result.timings_ms:
            samples[stage].append(ms)
        if k + 1 >= 5 and time.perf_counter() - start > cell_seconds:
            break
    p50 = {s: float(np.percentile(v, 50)) for s, v in samples.items()}
    p95 = {s: float(np.percentile(v, 95)) for s, v in samples.items()}
    return len(samples["total"]), p50, p95


def markdown(rows: list[Row]) -> str:
    head = ("| config | engine | provider | objects | frames | preprocess p50/p95 | engine p50/p95 | "
            "postprocess p50/p95 | total p50/p95 (ms) | FPS (p50) |")
    lines = [head, "|" + " --- |" * 10]
    for r in rows:
        cells = [f"{r.p50[s]:.1f} / {r.p95[s]:.1f}" for s in STAGES]
        lines.append(f"| {r.config} | {r.engine} | {r.provider} | {r.objects} | {r.frames} | " + " | ".join(cells)
                     + f" | {1e3 / r.p50['total']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["lite", "paper"])
    parser.add_argument("--engines", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"])
    parser.add_argument("--objects", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--frames", type=int, default=20, help="timed frames per cell")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--cell-seconds", type=float, default=30.0,
                        help="stop timing a cell after this long (but after at least 5 frames)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the engines")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    torch.set_num_threads(args.threads)
    from cleanpose_ros.core.config import PipelineConfig
    from cleanpose_ros.core.pipeline import Pipeline, config_for_model
    from cleanpose_ros.verification.sample_frames import synthetic_frame

    frames = {n: [synthetic_frame(n, seed=s) for s in range(args.frames)] for n in args.objects}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cleanpose-bench-") as tmp:
        for config_name in args.configs:
            for label, engine in build_engines(config_name, args.engines, args.device, args.threads, Path(tmp)):
                # every object of the largest cell goes through (the default max_objects is 32)
                config = config_for_model(PipelineConfig(max_objects=max(32, *args.objects)), engine.info)
                pipeline = Pipeline(engine, config)
                for n in tqdm(args.objects, desc=f"{config_name} {label}", leave=False):
                    count, p50, p95 = time_pipeline(pipeline, frames[n], args.warmup, args.cell_seconds)
                    rows.append(Row(config_name, label, engine.active_provider, n, count, p50, p95))
    text = (f"{machine_description(args.device)}\n- measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"up to {args.frames} frames per cell ({args.cell_seconds:.0f} s cap) after {args.warmup} warm-up "
            f"frames, 640x480\n\n{markdown(rows)}\n")
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
