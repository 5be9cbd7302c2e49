"""A standard Triton Inference Server model repository for an exported network (NVIDIA's Triton container,
ONNX Runtime backend):

    <repo>/<name>/config.pbtxt      platform onnxruntime_onnx, dynamic batching over the object axis
    <repo>/<name>/1/model.onnx      the exported network, byte for byte

Every input and output of the file has its first axis as the batch of objects, so Triton's batch axis is
that one (`max_batch_size` objects per call, requests of several cameras concatenated by the dynamic
batcher). Dims without the batch come from the network itself: inputs from its ModelInfo metadata,
outputs from one onnxruntime call with one object (the exporter leaves some output dims symbolic).
`category` is one int64 per object: Triton dims `[1]`, reshaped to `[]` for the model.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..core.engine import dummy_inputs
from ..core.errors import ConfigError

if TYPE_CHECKING:
    from .onnx_engine import OnnxEngine

_TRITON_TYPES = {np.dtype(np.float32): "TYPE_FP32", np.dtype(np.int64): "TYPE_INT64", np.dtype(np.float16): "TYPE_FP16",
                 np.dtype(np.int32): "TYPE_INT32", np.dtype(np.uint8): "TYPE_UINT8", np.dtype(np.bool_): "TYPE_BOOL"}


@dataclass(frozen=True)
class TensorEntry:
    name: str
    data_type: str  # Triton's TYPE_*
    dims: tuple[int, ...]  # without the batch axis


def entries_of_run(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], output_names: Sequence[str],
                   source: str = "network") -> tuple[list[TensorEntry], list[TensorEntry]]:
    """(inputs, outputs) as Triton sees them (batch axis removed), from one engine call's named tensors."""
    def entry(name: str, array: np.ndarray) -> TensorEntry:
        if array.dtype not in _TRITON_TYPES:
            raise ConfigError(f"{source}: tensor {name} has dtype {array.dtype}, which this writer does not map")
        return TensorEntry(name, _TRITON_TYPES[array.dtype], tuple(int(d) for d in array.shape[1:]))

    return ([entry(n, inputs[n]) for n in inputs], [entry(n, outputs[n]) for n in output_names])


def tensor_entries(onnx_path: str | Path, engine: "OnnxEngine | None" = None) -> tuple[list[TensorEntry], list[TensorEntry]]:
    """(inputs, outputs) of an exported network as Triton sees them (batch axis removed); `engine`: an
    OnnxEngine of that file already loaded (the server's), else one is loaded for this."""
    from .onnx_engine import OnnxEngine

    engine = engine or OnnxEngine(onnx_path)
    inputs = dummy_inputs(engine.info, 1)
    return entries_of_run(inputs, engine.run(inputs), engine.output_names, str(onnx_path))


def triton_dims(entry: TensorEntry) -> tuple[int, ...]:
    """An entry's dims in the config / model metadata, batch axis excluded: a scalar per object is [1]."""
    return entry.dims or (1,)


def _block(kind: str, entries: list[TensorEntry]) -> str:
    parts = []
    for e in entries:
        dims = list(triton_dims(e))
        reshape = "\n    reshape: { shape: [ ] }" if not e.dims else ""
        parts.append(f'  {{\n    name: "{e.name}"\n    data_type: {e.data_type}\n    dims: [ {", ".join(map(str, dims))} ]{reshape}\n  }}')
    return f"{kind} [\n" + ",\n".join(parts) + "\n]"


def triton_config(onnx_path: str | Path, name: str, max_batch_size: int = 64, max_queue_delay_us: int = 2000,
                  instance_kind: str = "KIND_CPU", instances: int = 1) -> str:
    """config.pbtxt text for `onnx_path` under model name `name`."""
    if max_batch_size < 1:
        raise ConfigError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if instance_kind not in ("KIND_CPU", "KIND_GPU"):
        raise ConfigError(f"instance_kind must be KIND_CPU or KIND_GPU, got {instance_kind!r}")
    inputs, outputs = tensor_entries(onnx_path)
    return "\n".join([
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch_size}  # objects per call: the first axis of every tensor",
        _block("input", inputs),
        _block("output", outputs),
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_queue_delay_us}\n}}",
        f"instance_group [\n  {{\n    count: {instances}\n    kind: {instance_kind}\n  }}\n]",
        "",
    ])


def write_repository(onnx_path: str | Path, repository: str | Path, name: str = "cleanpose_lite", **config: object) -> Path:
    """Write <repository>/<name>/{config.pbtxt, 1/model.onnx}; returns the model folder."""
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ConfigError(f"ONNX file not found: {onnx_path}")
    text = triton_config(onnx_path, name, **config)  # type: ignore[arg-type]
    folder = Path(repository) / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, folder / "1" / "model.onnx")
    (folder / "config.pbtxt").write_text(text)
    return folder


__all__ = ["TensorEntry", "entries_of_run", "tensor_entries", "triton_config", "triton_dims", "write_repository"]
