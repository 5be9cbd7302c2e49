"""The engine interface: one named-tensor schema shared by every backend.

An engine turns the named network inputs of an ObjectBatch (`ObjectBatch.tensors()`) into the
named network outputs below, for all B objects of a frame in one call. Engines know nothing of
frames, masks or categories by name; the pipeline (core/pipeline.py) does the rest.

This module is torch-free and onnxruntime-free on purpose: core/pipeline.py depends on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

from .errors import CleanPoseError


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of one network tensor; string dims are symbolic.

    Symbols: "B" objects in the batch, "N" points per object, "S" crop side in pixels.
    """

    name: str
    dtype: np.dtype
    dims: tuple[int | str, ...]


INPUT_SPECS: tuple[TensorSpec, ...] = (
    TensorSpec("rgb", np.dtype(np.float32), ("B", 3, "S", "S")),
    TensorSpec("points", np.dtype(np.float32), ("B", "N", 3)),
    TensorSpec("choose", np.dtype(np.int64), ("B", "N")),
    TensorSpec("category", np.dtype(np.int64), ("B",)),
)
OUTPUT_SPECS: tuple[TensorSpec, ...] = (
    TensorSpec("rotation", np.dtype(np.float32), ("B", 3, 3)),
    TensorSpec("translation", np.dtype(np.float32), ("B", 3)),
    TensorSpec("size", np.dtype(np.float32), ("B", 3)),
)
#: Optional outputs: the keypoints' NOCS coordinates and camera positions (metres), for the NOCS-fit
#: pose sources (core/postprocess.py). Graphs exported before they existed lack them.
KEYPOINT_OUTPUT_SPECS: tuple[TensorSpec, ...] = (
    TensorSpec("kpt_nocs", np.dtype(np.float32), ("B", "K", 3)),
    TensorSpec("kpt_cam", np.dtype(np.float32), ("B", "K", 3)),
)
INPUT_NAMES: tuple[str, ...] = tuple(s.name for s in INPUT_SPECS)
OUTPUT_NAMES: tuple[str, ...] = tuple(s.name for s in OUTPUT_SPECS)
KEYPOINT_OUTPUT_NAMES: tuple[str, ...] = tuple(s.name for s in KEYPOINT_OUTPUT_SPECS)


def engine_output_names(engine: object) -> tuple[str, ...]:
    """What an engine says it returns; an engine that does not say (a test double) returns the base outputs."""
    return tuple(getattr(engine, "output_names", OUTPUT_NAMES))


class SchemaError(CleanPoseError, ValueError):
    """Tensors handed to or returned by an engine do not match the schema."""


class ProviderUnavailableError(CleanPoseError, RuntimeError):
    """The requested device / execution provider cannot run here and fallback is off."""


@dataclass(frozen=True)
class ModelInfo:
    """What the pipeline must know about the network behind an engine.

    `num_points` and `crop_size` come from the model config stored with the weights: the
    preprocessing must produce exactly these sizes.
    """

    num_points: int
    crop_size: int
    categories: tuple[str, ...]
    name: str = "cleanpose"  # model config name, e.g. "lite" or "paper"
    #: seed the confounder-queue samples were re-drawn from; None = the samples stored with the weights
    seed: int | None = None


@runtime_checkable
class Engine(Protocol):
    """A backend that runs the network on one batch of objects."""

    #: backend name: "torch" or "onnx"
    kind: str
    #: where the network really runs, e.g. "cpu", "cuda:0", "CPUExecutionProvider"
    active_provider: str
    #: None, or why the engine runs somewhere other than where it was asked to (fallback: true)
    fallback_note: str | None
    info: ModelInfo
    #: the named outputs every run returns: OUTPUT_NAMES, plus KEYPOINT_OUTPUT_NAMES when the network has them
    output_names: tuple[str, ...]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named inputs (INPUT_SPECS, B >= 1) -> named float32 outputs (OUTPUT_SPECS)."""
        ...


def dummy_inputs(info: ModelInfo, num_objects: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Well-formed random network inputs for `num_objects` objects (warm-up, tracing, export checks):
    a ~10 cm blob of points 0.8 m in front of the camera, noise crops, valid pixel indices."""
    rng = np.random.default_rng(seed)
    n, s = info.num_points, info.crop_size
    points = rng.normal(scale=0.03, size=(num_objects, n, 3)) + np.array([0.0, 0.0, 0.8])
    return {
        "rgb": rng.normal(size=(num_objects, 3, s, s)).astype(np.float32),
        "points": points.astype(np.float32),
        "choose": rng.integers(0, s * s, size=(num_objects, n)).astype(np.int64),
        "category": (np.arange(num_objects) % len(info.categories)).astype(np.int64),
    }


def _resolve_dims(spec: TensorSpec, shape: tuple[int, ...], bound: dict[str, int]) -> None:
    if len(shape) != len(spec.dims):
        raise SchemaError(f"{spec.name}: expected {len(spec.dims)} dims {spec.dims}, got shape {shape}")
    for want, got in zip(spec.dims, shape):
        if isinstance(want, str):
            if bound.setdefault(want, got) != got:
                raise SchemaError(
                    f"{spec.name}: dim {want}={got} disagrees with {want}={bound[want]} of another tensor")
        elif want != got:
            raise SchemaError(f"{spec.name}: expected shape {spec.dims}, got {shape}")


def check_inputs(inputs: Mapping[str, np.ndarray], info: ModelInfo) -> int:
    """Validate named inputs against the schema and the model's sizes; returns B.

    Dtypes must match exactly: a silent cast here would hide a preprocessing bug.
    """
    missing = [n for n in INPUT_NAMES if n not in inputs]
    extra = sorted(set(inputs) - set(INPUT_NAMES))
    if missing or extra:
        raise SchemaError(f"engine inputs: missing {missing}, unexpected {extra}; schema is {list(INPUT_NAMES)}")
    bound: dict[str, int] = {}
    for spec in INPUT_SPECS:
        arr = inputs[spec.name]
        if not isinstance(arr, np.ndarray) or arr.dtype != spec.dtype:
            raise SchemaError(f"{spec.name}: expected {spec.dtype} ndarray, got {getattr(arr, 'dtype', type(arr))}")
        _resolve_dims(spec, arr.shape, bound)
    if bound["N"] != info.num_points or bound["S"] != info.crop_size:
        raise SchemaError(
            f"inputs have {bound['N']} points and {bound['S']}px crops, the model wants "
            f"{info.num_points} points and {info.crop_size}px crops")
    if bound["B"] < 1:
        raise SchemaError("an engine call needs at least one object")
    cat = inputs["category"]
    if cat.min() < 0 or cat.max() >= len(info.categories):
        raise SchemaError(f"category indices must be in [0, {len(info.categories)}), got {cat.tolist()}")
    return bound["B"]


def check_outputs(outputs: Mapping[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """Validate named outputs (shapes only: values may be non-finite; postprocessing decides).
    The keypoint outputs are optional; when present they are checked and passed on."""
    missing = [n for n in OUTPUT_NAMES if n not in outputs]
    if missing:
        raise SchemaError(f"engine outputs: missing {missing}; got {sorted(outputs)}")
    bound = {"B": batch_size}
    result = {}
    for spec in OUTPUT_SPECS + tuple(s for s in KEYPOINT_OUTPUT_SPECS if s.name in outputs):
        arr = np.asarray(outputs[spec.name])
        _resolve_dims(spec, arr.shape, bound)
        result[spec.name] = arr.astype(np.float32, copy=False)
    return result
