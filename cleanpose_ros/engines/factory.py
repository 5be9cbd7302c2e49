"""Engines and pipelines from a weights file: the one place that picks a backend.

- `.pt` checkpoint + kind "torch": TorchEngine.
- `.onnx` network + kind "onnx": OnnxEngine.
- `.onnx` network or `.pt` checkpoint + kind "triton": TritonEngine, the network on a Triton server; the local
  ONNX file (as for "onnx") gives its metadata and is what the served model must match.
- `.pt` checkpoint + kind "onnx": the ONNX file shipped with the checkpoint when its manifest
  still matches (engines/paired_onnx.py: weights/cleanpose_lite.onnx), else the checkpoint is
  exported first (engines/export.py) into a cache directory keyed by the checkpoint's content,
  the opset and the confounder seed, so any checkpoint runs on either engine.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from ..core.confidence import load_for_weights
from ..core.config import PipelineConfig
from ..core.errors import ConfigError, WeightsError
from ..core.pipeline import Pipeline
from ..core.engine import Engine
from .config import EngineConfig
from .paired_onnx import paired_onnx

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
DEFAULT_OPSET = 17


def onnx_cache_dir() -> Path:
    """Where checkpoints exported on the fly go: $CLEANPOSE_CACHE_DIR or ~/.cache/cleanpose_ros/onnx."""
    root = os.environ.get("CLEANPOSE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cleanpose_ros")
    return Path(root) / "onnx"


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


def export_code_digest() -> str:
    """Digest of the code that shapes an exported graph: a cached export made by older model code
    must not be served after an update."""
    package = Path(__file__).resolve().parents[1]
    return _digest(sorted((package / "model").glob("*.py")) + [package / "engines" / "export.py"])


def exported_onnx_for(checkpoint: Path, seed: int | None, opset: int = DEFAULT_OPSET) -> Path:
    """The ONNX network of a checkpoint: the paired file shipped with it, else an export from the
    cache, exporting on a miss."""
    paired = paired_onnx(checkpoint, seed, opset)
    if paired is not None:
        return paired
    from .export import export_checkpoint  # lazy: torch

    seed_tag = "ckpt" if seed is None else str(seed)
    name = f"{checkpoint.stem}-{_digest([checkpoint])}-code{export_code_digest()}-seed{seed_tag}-opset{opset}.onnx"
    target = onnx_cache_dir() / name
    if not target.is_file():
        logger.info("exporting %s to %s for the onnx engine", checkpoint, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")
        try:
            export_checkpoint(checkpoint, partial, opset=opset, seed=seed)
            partial.replace(target)  # atomic: concurrent processes never read half a file
        finally:
            partial.unlink(missing_ok=True)
    return target


def build_engine(weights: str | Path, config: EngineConfig | None = None) -> Engine:
    """The engine `config.kind` for a checkpoint or ONNX file (see the module docstring)."""
    config = config or EngineConfig()
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if config.kind == "torch":
        if suffix == ".onnx":
            raise ConfigError(f"the torch engine needs a checkpoint ({'/'.join(CHECKPOINT_SUFFIXES)}), got {path}")
        from .torch_engine import TorchEngine  # lazy: torch

        return TorchEngine.from_checkpoint(path, config)
    if suffix != ".onnx":
        path = exported_onnx_for(path, seed=config.inference_seed)
    if config.kind == "triton":
        from .triton_engine import TritonEngine  # lazy: tritonclient

        return TritonEngine(path, config)
    from .onnx_engine import OnnxEngine  # lazy: onnxruntime

    return OnnxEngine(path, config)


def build_pipeline(weights: str | Path, engine: str = "onnx", device: str = "cpu",
                   config: PipelineConfig | None = None, seed: int = 0, warm_up: bool = True,
                   confidence: str | Path | None = "auto", **engine_options: Any) -> Pipeline:
    """Pipeline over `build_engine`. `engine_options` are EngineConfig fields (precision, providers,
    fallback, num_threads, inference_seed, spin_wait, triton_url, ...); `seed` seeds the preprocessing's point
    sampling; `warm_up` makes one dummy engine call so the first real frame is not the slow one.

    `config=None` takes the default PipelineConfig with the model's preprocessing sizes; a given
    config must already match the model (ConfigError otherwise).

    `confidence`: "auto" uses the weights' calibrated confidence model when one lies next to them
    (<stem>.confidence.json, core/confidence.py), a path uses that file, None or "" none.
    """
    names = {f.name for f in dataclasses.fields(EngineConfig)} - {"kind", "device"}
    unknown = sorted(set(engine_options) - names)
    if unknown:
        raise ConfigError(f"unknown engine option(s) {unknown}; allowed: {sorted(names)}")
    if "providers" in engine_options:
        engine_options["providers"] = tuple(engine_options["providers"])
    engine_config = EngineConfig(kind=engine, device=device, **engine_options)  # type: ignore[arg-type]
    model = None
    if confidence:
        model = load_for_weights(weights, None if str(confidence) == "auto" else confidence)
    pipeline = Pipeline(build_engine(weights, engine_config), config=config, seed=seed, confidence=model)
    if warm_up:
        logger.info("engine warm-up call: %.0f ms", pipeline.warm_up())
    return pipeline
