#!/usr/bin/env python3
"""The network on the CPU: onnxruntime session settings, int8, FLOPs and the distance to the hardware.

Engine-only timing (one `session.run` for all objects of a frame) of the shipped
weights/cleanpose_lite.onnx on real preprocessed inputs (640x480 synthetic frames, verification/sample_frames.py),
for several session settings side by side in one run:

- graph optimisation level (basic / extended / all), intra-op threads (1 / 2), spin-waiting on / off,
  the CPU memory arena on / off, IO binding with preallocated outputs;
- an int8 dynamically quantised copy (onnxruntime.quantization.quantize_dynamic, weights int8,
  activations quantised at run time), written to --int8-out for the accuracy check.

Also reports the network's FLOPs per object (torch.utils.flop_counter over the same network in
PyTorch, matmuls and convolutions: what a CPU spends its arithmetic on) and the machine's measured
fp32 matmul peak with the same thread count (torch 2048^3 sgemm), so achieved GFLOP/s is a fraction
of something measured here, not of a datasheet.

  .venv/bin/python bench/bench_onnx_cpu.py [--objects 5 10] [--threads 2] [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a plain checkout
import cleanpose_ros.engines  # noqa: E402,F401  (first: OMP_WAIT_POLICY before torch loads)

WEIGHTS = ROOT / "weights" / "cleanpose_lite.pt"
ONNX = ROOT / "weights" / "cleanpose_lite.onnx"


def _inputs(num_objects: int) -> dict[str, np.ndarray]:
    from cleanpose_ros.core.config import PreprocessConfig
    from cleanpose_ros.core.preprocess import preprocess_instances
    from cleanpose_ros.verification.sample_frames import synthetic_frame

    frame, instances = synthetic_frame(num_objects, seed=3)
    batch, _ = preprocess_instances(frame, instances, PreprocessConfig(num_points=256, crop_size=128))
    assert batch is not None and len(batch.instance_ids) == num_objects
    return batch.tensors()


def _session(path: Path, threads: int, level: str = "all", spin: bool = False, arena: bool = True):  # noqa: ANN202
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    options.enable_cpu_mem_arena = arena
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _median_ms(fn, repeats: int) -> float:  # noqa: ANN001
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(samples))


def flops_per_object() -> float:
    """FLOPs of one object through the lite network (torch flop counter: matmul, conv, bmm, ...), counted
    on the module the torch engine serves; grad mode on, as the counter's module hooks need it."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cleanpose_ros.core.engine import INPUT_NAMES
    from cleanpose_ros.model.checkpoint import load_checkpoint

    module = load_checkpoint(WEIGHTS, map_location="cpu").model.inference_module(keypoints=True).eval()
    inputs = _inputs(1)
    with FlopCounterMode(display=False) as counter:
        module(*(torch.from_numpy(inputs[n]) for n in INPUT_NAMES))
    return float(counter.get_total_flops())


def matmul_peak_gflops(threads: int, n: int = 2048) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = _median_ms(lambda: torch.mm(a, b), 10)
    return 2 * n ** 3 / (ms * 1e-3) / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, nargs="+", default=[5, 10])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--int8-out", type=Path, default=ROOT / "runs" / "cleanpose_lite.int8.onnx",
                   help="where the int8 copy is written (evaluate it with cleanpose-evaluate --weights)")
    args = p.parse_args(argv)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    args.int8_out.parent.mkdir(parents=True, exist_ok=True)
    if not args.int8_out.is_file() or args.int8_out.stat().st_mtime < ONNX.stat().st_mtime:
        quantize_dynamic(str(ONNX), str(args.int8_out), weight_type=QuantType.QInt8)
    t = args.threads
    variants = [
        ("fp32, opt all, no spin, arena (the engine's settings)", ONNX, dict(threads=t)),
        ("fp32, opt basic", ONNX, dict(threads=t, level="basic")),
        ("fp32, opt extended", ONNX, dict(threads=t, level="extended")),
        ("fp32, spin-wait on", ONNX, dict(threads=t, spin=True)),
        ("fp32, memory arena off", ONNX, dict(threads=t, arena=False)),
        ("fp32, 1 thread", ONNX, dict(threads=1)),
        ("fp32, IO binding (preallocated outputs)", ONNX, dict(threads=t)),
        ("int8 dynamic (MatMulInteger)", args.int8_out, dict(threads=t)),
    ]
    flops = flops_per_object()
    peak = matmul_peak_gflops(t)
    print(f"- onnx file: {ONNX.name} ({ONNX.stat().st_size / 1e6:.1f} MB), int8 copy {args.int8_out.stat().st_size / 1e6:.1f} MB")
    print(f"- {flops / 1e9:.3f} GFLOP per object (torch flop counter); fp32 matmul peak here: {peak:.1f} GFLOP/s "
          f"with {t} threads (torch 2048^3 sgemm); load average {os.getloadavg()[0]:.1f}\n")
    inputs = {n: _inputs(n) for n in args.objects}
    header = " | ".join(f"{n} obj (ms)" for n in args.objects)
    print(f"| session | {header} | GFLOP/s at {args.objects[-1]} obj | % of matmul peak |")
    print("| --- |" + " --- |" * (len(args.objects) + 2))
    for name, path, kwargs in variants:
        session = _session(path, **kwargs)
        output_names = [o.name for o in session.get_outputs()]
        times = []
        for n in args.objects:
            feed = inputs[n]
            if "IO binding" in name:
                binding = session.io_binding()
                for key, value in feed.items():
                    binding.bind_cpu_input(key, value)
                for out in output_names:
                    binding.bind_output(out, "cpu")
                times.append(_median_ms(lambda: session.run_with_iobinding(binding), args.repeats))
            else:
                times.append(_median_ms(lambda: session.run(output_names, feed), args.repeats))
        achieved = flops * args.objects[-1] / (times[-1] * 1e-3) / 1e9
        cells = " | ".join(f"{ms:.1f}" for ms in times)
        print(f"| {name} | {cells} | {achieved:.1f} | {100 * achieved / peak:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
