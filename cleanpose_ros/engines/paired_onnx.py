"""An ONNX export that travels with its checkpoint, and the manifest that ties the two together.

`weights/cleanpose_lite.onnx` ships next to `weights/cleanpose_lite.pt` so the onnx engine (the
default) starts without exporting anything. `weights/cleanpose_lite.manifest.json` names both files
with their SHA-256, the opset and the confounder samples baked in (always the checkpoint's own,
seed None). The factory uses the paired file only when both hashes still match; otherwise it falls
back to exporting into the cache, with a warning, so a retrained checkpoint never runs an old graph.

The digest of the model code that made the graph is recorded but not enforced: an edit anywhere in
model/ would otherwise force an export at every start until the files are re-shipped. Drift between
the shipped graph and the code is caught by test/engines/test_shipped_weights.py, which runs both
engines on the same frames.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.confidence import file_sha256
from ..core.errors import WeightsError

logger = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class OnnxManifest:
    format: int
    checkpoint: str          # file name, in the manifest's directory
    checkpoint_sha256: str
    onnx: str                # file name, in the manifest's directory
    onnx_sha256: str
    opset: int
    confounder_seed: int | None  # None: the checkpoint's stored samples
    export_code_digest: str
    created_utc: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def manifest_path(checkpoint: str | Path) -> Path:
    path = Path(checkpoint)
    return path.with_name(path.stem + MANIFEST_SUFFIX)


def read_manifest(checkpoint: str | Path) -> OnnxManifest | None:
    """The manifest next to `checkpoint`, None when there is none; WeightsError when it is unreadable."""
    path = manifest_path(checkpoint)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        manifest = OnnxManifest(**raw)
    except (ValueError, TypeError) as e:
        raise WeightsError(f"{path}: unreadable ONNX manifest ({e})") from None
    if manifest.format != MANIFEST_FORMAT:
        raise WeightsError(f"{path}: manifest format {manifest.format}, this code reads {MANIFEST_FORMAT}")
    return manifest


def write_manifest(checkpoint: str | Path, onnx: str | Path, opset: int, code_digest: str) -> Path:
    """Pair `onnx` (an export of `checkpoint` with its own confounder samples) with `checkpoint`.
    Both must lie in the same directory, so the pair can be moved or installed together."""
    checkpoint, onnx = Path(checkpoint), Path(onnx)
    if checkpoint.resolve().parent != onnx.resolve().parent:
        raise WeightsError(f"{onnx} must lie next to {checkpoint} to be paired with it")
    manifest = OnnxManifest(format=MANIFEST_FORMAT, checkpoint=checkpoint.name, checkpoint_sha256=file_sha256(checkpoint),
                            onnx=onnx.name, onnx_sha256=file_sha256(onnx), opset=opset, confounder_seed=None,
                            export_code_digest=code_digest, created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    target = manifest_path(checkpoint)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(manifest.to_json())
    partial.replace(target)
    return target


def mismatch(checkpoint: str | Path, manifest: OnnxManifest) -> str | None:
    """Why the paired ONNX file cannot stand for `checkpoint` (None when it can)."""
    checkpoint = Path(checkpoint)
    onnx = checkpoint.with_name(manifest.onnx)
    if manifest.checkpoint_sha256 != file_sha256(checkpoint):
        return f"{checkpoint.name} is not the checkpoint the manifest names (sha256 differs)"
    if not onnx.is_file():
        return f"the paired {onnx.name} is missing"
    if manifest.onnx_sha256 != file_sha256(onnx):
        return f"{onnx.name} is not the file the manifest names (sha256 differs)"
    return None


def paired_onnx(checkpoint: str | Path, seed: int | None, opset: int) -> Path | None:
    """The ONNX file shipped with `checkpoint` when it computes what was asked (the checkpoint's own
    confounder samples, this opset) and both files are the ones the manifest names; else None."""
    manifest = read_manifest(checkpoint)
    if manifest is None or seed is not None or manifest.opset != opset:
        return None
    problem = mismatch(checkpoint, manifest)
    if problem:
        logger.warning("not using the paired ONNX file of %s: %s; exporting instead", checkpoint, problem)
        return None
    return Path(checkpoint).with_name(manifest.onnx)


__all__ = ["MANIFEST_SUFFIX", "OnnxManifest", "manifest_path", "mismatch", "paired_onnx", "read_manifest", "write_manifest"]
