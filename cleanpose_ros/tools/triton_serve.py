"""cleanpose-triton-serve: the exported network on a real Triton Inference Server (PyTriton), for many cameras.

Usage (in .venv-triton, made by scripts/setup_triton.sh):
  .venv-triton/bin/cleanpose-triton-serve [--onnx weights/cleanpose_lite.onnx] [--model-name cleanpose_lite]
      [--grpc-port 8001] [--http-port 8000] [--metrics-port 8002] [--max-batch-size 64]
      [--max-queue-delay-us 2000] [--threads 1] [--instances 1]

Listens on loopback only. Logs `ready: ...` when the model is loaded, stops cleanly on SIGTERM or SIGINT.
Nodes use it with `inference.engine: triton` (`inference.triton.url`, default 127.0.0.1:8001).
Exit status: 0 stopped on request, 1 the server died or the model failed to load, 2 unusable file or option, or a port in use.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODULE = "cleanpose_ros.tools.triton_serve"


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="cleanpose-triton-serve", description=__doc__.splitlines()[0])
    p.add_argument("--onnx", type=Path, default=None, help="exported network (default: the shipped weights/cleanpose_lite.onnx)")
    p.add_argument("--model-name", default="cleanpose_lite", help="model name clients ask for (inference.triton.model)")
    p.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (the triton engine's)")
    p.add_argument("--http-port", type=int, default=8000, help="HTTP/REST port")
    p.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port")
    p.add_argument("--max-batch-size", type=int, default=64, help="objects per network call at most (all clients together)")
    p.add_argument("--max-queue-delay-us", type=int, default=2000,
                   help="how long the dynamic batcher holds a request waiting for others to join it")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads per model instance")
    p.add_argument("--instances", type=int, default=1, help="model instances (concurrent network calls)")
    args = p.parse_args(args_in)

    from cleanpose_ros.core.errors import CleanPoseError
    from cleanpose_ros.engines.triton_server import ServeOptions, ensure_libpython_on_library_path, serve
    from cleanpose_ros.resources import find_resource

    try:
        options = ServeOptions(onnx=args.onnx or find_resource("weights/cleanpose_lite.onnx"), model_name=args.model_name,
                               grpc_port=args.grpc_port, http_port=args.http_port, metrics_port=args.metrics_port,
                               max_batch_size=args.max_batch_size, max_queue_delay_us=args.max_queue_delay_us,
                               threads=args.threads, instances=args.instances)
        if not options.onnx.is_file():
            raise FileNotFoundError(f"ONNX file not found: {options.onnx}")
    except (CleanPoseError, FileNotFoundError) as e:
        print(f"cleanpose-triton-serve: {e}", file=sys.stderr)
        return 2
    ensure_libpython_on_library_path(args_in, MODULE)  # may re-execute this process (Python backend stub)
    try:
        import pytriton  # noqa: F401
    except ImportError:
        print("cleanpose-triton-serve: pytriton is not installed here; run it from .venv-triton "
              "(bash scripts/setup_triton.sh)", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        print(f"[cleanpose-triton-serve] {line}", flush=True)

    try:
        return serve(options, log=log)
    except CleanPoseError as e:
        print(f"cleanpose-triton-serve: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
