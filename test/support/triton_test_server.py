"""cleanpose-triton-serve plus deliberately broken TEST-ONLY models, for test/engines/test_triton_engine.py.

Run in .venv-triton: `python -m test.support.triton_test_server --onnx F --grpc-port P --http-port P --metrics-port P`.
`--broken` adds the model `test_only_broken`: the network's tensors, a right answer to a one-object request (the
engine's connect probe, so an engine connects to it), and wrong answers by object count (broken_model).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from cleanpose_ros.engines.triton_server import ServeOptions, ensure_libpython_on_library_path, serve

MODULE = "test.support.triton_test_server"
SLOW_S = 1.0  # the slow model's delay for several objects


def broken_model(engine) -> dict:
    """{"test_only_broken": infer}: the network, broken by the number of objects of a request:
    1 right (the connect probe), 2 -> translation with 2 values per object (a wrong shape),
    3 -> the first object's rotation NaN, 4 -> SLOW_S late, others right."""
    from pytriton.decorators import batch

    @batch
    def broken(**inputs):
        feed = dict(inputs)
        feed["category"] = feed["category"].reshape(-1)
        n = len(feed["rgb"])
        if n == 4:
            time.sleep(SLOW_S)
        out = engine.run(feed)
        if n == 2:
            out["translation"] = np.zeros((n, 2), np.float32)
        elif n == 3:
            out["rotation"][0] = np.nan
        return out

    return {"test_only_broken": broken}


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser()
    p.add_argument("--onnx", type=Path, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--max-queue-delay-us", type=int, default=20000)
    p.add_argument("--broken", action="store_true", help="also bind the model test_only_broken")
    args = p.parse_args(args_in)
    ensure_libpython_on_library_path(args_in, MODULE)
    options = ServeOptions(onnx=args.onnx, grpc_port=args.grpc_port, http_port=args.http_port,
                           metrics_port=args.metrics_port, max_queue_delay_us=args.max_queue_delay_us)
    from cleanpose_ros.engines.onnx_engine import OnnxEngine
    from cleanpose_ros.engines.config import EngineConfig

    extra = broken_model(OnnxEngine(args.onnx, EngineConfig(kind="onnx", num_threads=1))) if args.broken else None
    return serve(options, extra, log=lambda line: print(f"[triton-test-server] {line}", flush=True))


if __name__ == "__main__":
    sys.exit(main())
