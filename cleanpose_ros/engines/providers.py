"""Choosing where an engine runs, with an explicit policy when the requested place is missing.

Shared by both engines so that "requested CUDA on a CPU-only machine" behaves the same way in
torch and in ONNX Runtime: raise ProviderUnavailableError (fallback off) or log a warning and
run on the next available place (fallback on). Never silently.
"""
from __future__ import annotations

import logging
from typing import Sequence

from ..core.engine import ProviderUnavailableError
from .config import ORT_PROVIDER_NAMES

logger = logging.getLogger(__name__)


def resolve_ort_providers(preference: Sequence[str], available: Sequence[str], fallback: bool
                          ) -> tuple[list[str], str | None]:
    """Map short provider names to the ONNX Runtime providers to request.

    Returns (ORT provider names, fallback note or None). The first preferred provider is the
    one asked for; if it is missing, `fallback` decides between an error and the next available
    preferred provider (CPU when none is left).
    """
    wanted = [ORT_PROVIDER_NAMES[p] for p in preference]
    usable = [p for p in wanted if p in available]
    if usable and usable[0] == wanted[0]:
        return usable, None
    missing = [p for p in wanted if p not in available]
    message = (f"ONNX Runtime provider {wanted[0]} was requested but is not available here "
               f"(missing: {missing}; this onnxruntime build offers {list(available)})")
    if not fallback:
        raise ProviderUnavailableError(
            message + ". Install a matching onnxruntime-gpu / TensorRT, or set fallback: true to run on "
            + (usable[0] if usable else "CPUExecutionProvider"))
    chosen = usable or ["CPUExecutionProvider"]
    note = f"{message}; falling back to {chosen[0]} (fallback: true)"
    logger.warning(note)
    return chosen, note


def resolve_torch_device(device: str, cuda_available: bool, fallback: bool) -> tuple[str, str | None]:
    """Return (torch device string, fallback note or None) for a requested "cpu"/"cuda[:i]"."""
    if not device.startswith("cuda") or cuda_available:
        return device, None
    message = f"torch device {device!r} was requested but CUDA is not available to this torch build"
    if not fallback:
        raise ProviderUnavailableError(message + "; set fallback: true to run on the CPU")
    note = message + "; falling back to cpu (fallback: true)"
    logger.warning(note)
    return "cpu", note
