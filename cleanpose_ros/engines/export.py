"""Checkpoint -> self-describing ONNX file with a dynamic number of objects.

The confounder-queue samples (12 of the 80 queue entries per category that the causal module
attends to in eval mode) are fixed indices stored with the checkpoint. Export bakes them into the
graph as constants: the exported network is deterministic. `seed=None` keeps the checkpoint's
samples (the torch engine's default too); an int re-draws them from that seed first, and the torch
engine with `inference_seed=seed` then computes the same function. The seed (or None) is recorded
in the file's ModelInfo metadata (onnx_engine.METADATA_KEY).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ..core.engine import dummy_inputs
from .onnx_engine import model_info_to_metadata
from .torch_engine import model_info_of

logger = logging.getLogger(__name__)


def export_checkpoint(checkpoint: str | Path, out: str | Path, opset: int = 17, seed: int | None = None) -> Path:
    """Export a checkpoint to `out` (ONNX) and verify that onnxruntime runs it with 1 and 3 objects.

    `seed=None` bakes in the confounder samples stored in the checkpoint; an int re-draws them.

    Raises WeightsError for a missing or corrupt checkpoint.
    """
    from ..model.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint, map_location="cpu")
    return export_model(loaded.model, out, opset=opset, seed=seed)


def export_model(model, out: str | Path, opset: int = 17, seed: int | None = None) -> Path:  # noqa: ANN001 (CleanPose)
    """Export a CleanPose model (see export_checkpoint) and attach its ModelInfo as ONNX metadata."""
    import onnx

    from ..model.onnx_io import export_onnx

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    if seed is not None:
        model.set_inference_seed(seed)
    with warnings.catch_warnings():
        # The tracer warns about every shape-derived Python int (k = min(k, n), 1/sqrt(d)); for a
        # graph whose only dynamic axis is the batch these are constants by design.
        warnings.filterwarnings("ignore", message=".*[Tt]race.*")
        export_onnx(model, out, opset=opset)
    proto = onnx.load(str(out))
    for key, value in model_info_to_metadata(model_info_of(model, seed)).items():
        entry = next((p for p in proto.metadata_props if p.key == key), None) or proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(out))
    _check_dynamic_batch(out)
    logger.info("exported %s (opset %d, confounder samples %s, %.1f MB)", out, opset,
                "of the checkpoint" if seed is None else f"from seed {seed}", out.stat().st_size / 1e6)
    return out


def _check_dynamic_batch(path: Path) -> None:
    """Run the file with 1 and 3 objects: a batch dimension frozen at export time fails here."""
    from .onnx_engine import OnnxEngine

    engine = OnnxEngine(path)
    for b in (1, 3):
        out = engine.run(dummy_inputs(engine.info, b))
        if out["rotation"].shape[0] != b:
            raise RuntimeError(f"{path}: exported network returned batch {out['rotation'].shape[0]} for {b} objects")
