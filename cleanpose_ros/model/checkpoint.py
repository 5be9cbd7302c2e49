"""Safe checkpoints: a single `torch.save` of plain containers and tensors, read back with
`torch.load(weights_only=True)`, so a file holding pickled objects is refused, never executed.

Layout (version 1):
  format: "cleanpose_ros.checkpoint", version: 1,
  config: ModelConfig as a plain dict (core.config.to_dict), step: int, extra: dict (plain values),
  state_dict: model weights and buffers (confounder queue included), optimizer_state: dict | None.
"""
from __future__ import annotations

import logging
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cleanpose_ros.core.config import to_dict
from cleanpose_ros.core.errors import ConfigError, WeightsError

from .config import ModelConfig, model_config_from_dict

logger = logging.getLogger(__name__)

FORMAT = "cleanpose_ros.checkpoint"
VERSION = 1
QUEUE_KEYS = ("queue.entries", "queue.count", "queue.inference_indices")


@dataclass
class LoadedCheckpoint:
    model: nn.Module  # a CleanPose in eval mode
    config: ModelConfig
    step: int
    extra: dict[str, Any]
    optimizer_state: dict[str, Any] | None


def save_checkpoint(path: str | Path, model: nn.Module, config: ModelConfig, *, step: int = 0,
                    extra: dict | None = None, optimizer_state: dict | None = None) -> Path:
    """Write model weights + buffers (confounder queue included), config, step and extra to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(config),
        "step": int(step),
        "extra": dict(extra or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer_state,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a crash mid-write never leaves a truncated checkpoint under the real name
    return path


#: First bytes of a zip archive, which torch.save writes.
ZIP_MAGIC = b"PK\x03\x04"


def _read(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    """The checkpoint's payload; every way a file can fail is a WeightsError naming the actual problem
    (never torch's advice to disable weights_only: that would execute the file's code)."""
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"{path}: empty file (0 bytes): an interrupted download or copy?")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != ZIP_MAGIC:  # torch.save writes a zip archive; anything else is no checkpoint of ours
        raise WeightsError(f"{path}: not a checkpoint ({size} bytes that are not a torch zip archive, "
                           f"first bytes {magic.hex()})")
    try:
        payload = torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        detail = f"it references {found.group(1)}" if found else "objects other than tensors and plain containers"
        raise WeightsError(f"{path}: refused, unsafe content: the file holds pickled code or objects ({detail}); "
                           "cleanpose_ros only loads plain tensors and containers") from None
    except Exception as e:  # zip, pickle or storage errors of a damaged file all mean the same to the user
        first = str(e).splitlines()[0] if str(e) else ""
        raise WeightsError(f"{path}: corrupt or truncated checkpoint ({size} bytes; {type(e).__name__}: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a cleanpose_ros checkpoint (missing format marker {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise WeightsError(f"{path}: checkpoint version {payload.get('version')!r}, this code reads {VERSION}")
    return payload


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the CleanPose of a checkpoint (eval mode). Raises WeightsError on any problem."""
    from .network import CleanPose  # local import: network imports nothing from here, keep it that way

    path = Path(path)
    payload = _read(path, map_location)
    try:
        config = model_config_from_dict(payload["config"])
    except (ConfigError, KeyError, TypeError) as e:
        raise WeightsError(f"{path}: invalid model config in checkpoint: {e}") from None
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: checkpoint has no state_dict")
    if config.causal.enabled:
        lacking = [k for k in QUEUE_KEYS if k not in state]
        if lacking:
            raise WeightsError(f"{path}: checkpoint lacks the confounder queue {lacking}; the causal module's "
                               "inference depends on it, so these weights cannot be used")
    model = CleanPose(config)
    # a float64 training run (training/config.py: float64) stores float64 weights: keep their precision
    if any(torch.is_tensor(v) and v.dtype == torch.float64 for v in state.values()):
        model = model.double()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path}: weights do not match the model config: {str(e).splitlines()[0]} ...") from None
    model.eval()
    queue = getattr(model, "queue", None)
    if queue is not None and not bool(queue.is_full().all()):
        logger.warning("%s: confounder queue not full (counts %s): inference samples include empty entries",
                       path, queue.count.tolist())
    return LoadedCheckpoint(model=model, config=config, step=int(payload.get("step", 0)),
                            extra=dict(payload.get("extra") or {}), optimizer_state=payload.get("optimizer_state"))
