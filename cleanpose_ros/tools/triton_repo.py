"""cleanpose-triton-repo: a Triton Inference Server model repository for an exported network.

Usage:
  cleanpose-triton-repo [--onnx weights/cleanpose_lite.onnx] --out triton_models [--name cleanpose_lite]
                        [--max-batch-size 64] [--queue-delay-us 2000] [--gpu] [--instances 1]

Writes <out>/<name>/config.pbtxt (ONNX Runtime backend, dynamic batching over the object axis) and
<out>/<name>/1/model.onnx, for NVIDIA's Triton container:
  docker run --rm -p 8001:8001 -v $PWD/triton_models:/models nvcr.io/nvidia/tritonserver:<tag>-py3 \\
    tritonserver --model-repository=/models
Exit status: 0 written, 2 unusable file or option.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cleanpose_ros.core.errors import CleanPoseError
from cleanpose_ros.resources import find_resource


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cleanpose-triton-repo", description=__doc__.splitlines()[0])
    p.add_argument("--onnx", type=Path, default=None, help="exported network (default: the shipped weights/cleanpose_lite.onnx)")
    p.add_argument("--out", type=Path, required=True, help="model repository folder (created)")
    p.add_argument("--name", default="cleanpose_lite", help="model name in the repository")
    p.add_argument("--max-batch-size", type=int, default=64, help="objects per server call at most")
    p.add_argument("--queue-delay-us", type=int, default=2000, help="dynamic batcher's wait for more requests")
    p.add_argument("--gpu", action="store_true", help="instance_group KIND_GPU (default KIND_CPU)")
    p.add_argument("--instances", type=int, default=1, help="model instances")
    args = p.parse_args(argv)
    try:
        from cleanpose_ros.engines.triton_repository import write_repository

        onnx = args.onnx or find_resource("weights/cleanpose_lite.onnx")
        folder = write_repository(onnx, args.out, args.name, max_batch_size=args.max_batch_size,
                                  max_queue_delay_us=args.queue_delay_us,
                                  instance_kind="KIND_GPU" if args.gpu else "KIND_CPU", instances=args.instances)
    except (CleanPoseError, FileNotFoundError) as e:
        print(f"cleanpose-triton-repo: {e}", file=sys.stderr)
        return 2
    print(f"wrote {folder / 'config.pbtxt'} and {folder / '1' / 'model.onnx'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
