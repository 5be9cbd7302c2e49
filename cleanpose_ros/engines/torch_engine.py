"""PyTorch engine: runs the CleanPose inference module on CPU or CUDA, fp32 or fp16 (autocast).

fp16 uses CUDA autocast rather than casting the weights: points are metres and a half-precision
copy of them would lose about half a millimetre at 1 m before the network even starts.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch

from ..core.errors import ConfigError
from ..core.engine import INPUT_NAMES, KEYPOINT_OUTPUT_NAMES, OUTPUT_NAMES, ModelInfo, check_inputs, check_outputs, dummy_inputs
from .config import EngineConfig
from .providers import resolve_torch_device

if TYPE_CHECKING:
    from ..model.network import CleanPose

logger = logging.getLogger(__name__)


def model_info_of(model: "CleanPose", seed: int | None) -> ModelInfo:
    """ModelInfo from the network's own config (the sizes its preprocessing must produce)."""
    cfg = model.config
    return ModelInfo(num_points=cfg.num_points, crop_size=cfg.crop_size, categories=tuple(cfg.categories),
                     name=cfg.name, seed=seed)


class TorchEngine:
    """Engine over `CleanPose.inference_module()`; `active_provider` is the torch device in use."""

    kind = "torch"

    def __init__(self, model: "CleanPose", config: EngineConfig | None = None) -> None:
        config = config or EngineConfig(kind="torch")
        device, self.fallback_note = resolve_torch_device(config.device, torch.cuda.is_available(), config.fallback)
        if config.precision == "fp16" and not device.startswith("cuda"):
            raise ConfigError("precision fp16 needs a CUDA device (CPU half precision is slower than fp32 here)")
        self._device = torch.device(device)
        self._autocast = config.precision == "fp16"
        if config.num_threads and self._device.type == "cpu":
            torch.set_num_threads(config.num_threads)
        if config.inference_seed is not None:
            model.set_inference_seed(config.inference_seed)
        self._module = model.inference_module(keypoints=True).to(self._device).eval()
        self.output_names = OUTPUT_NAMES + KEYPOINT_OUTPUT_NAMES
        self.info = model_info_of(model, config.inference_seed)
        if config.jit:
            self._module = self._compile(self._module)
        self.active_provider = str(self._device)
        self.precision = config.precision
        logger.info("torch engine: model %s on %s (%s%s)", self.info.name, self.active_provider, self.precision,
                    ", traced" if config.jit else "")

    def _compile(self, module: torch.nn.Module) -> torch.nn.Module:
        """Trace + freeze (+ optimize_for_inference on CPU). The trace keeps the object count
        dynamic the same way the ONNX export does (same tracer); the parity tests cover both."""
        example = dummy_inputs(self.info, 2)
        args = tuple(torch.from_numpy(example[n]).to(self._device) for n in INPUT_NAMES)
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.filterwarnings("ignore", message=".*[Tt]race.*")  # shape-derived constants, by design
            traced = torch.jit.freeze(torch.jit.trace(module, args).eval())
            if self._device.type == "cpu":
                traced = torch.jit.optimize_for_inference(traced)
        return traced

    @classmethod
    def from_checkpoint(cls, path: str | Path, config: EngineConfig | None = None) -> "TorchEngine":
        """Load a checkpoint (model/checkpoint.py; WeightsError when missing or corrupt)."""
        from ..model.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, map_location="cpu")
        return cls(loaded.model, config)

    @torch.inference_mode()
    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch_size = check_inputs(inputs, self.info)
        tensors = [torch.from_numpy(np.ascontiguousarray(inputs[n])).to(self._device, non_blocking=True)
                   for n in INPUT_NAMES]
        with torch.autocast(device_type=self._device.type, dtype=torch.float16, enabled=self._autocast):
            values = self._module(*tensors)
        return check_outputs({n: v.float().cpu().numpy() for n, v in zip(self.output_names, values)}, batch_size)
