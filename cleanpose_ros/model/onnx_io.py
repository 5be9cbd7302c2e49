"""ONNX export of the inference graph (the export CLI lives with the runtime; this is the graph contract).

Inputs (dynamic batch B, everything else fixed by the ModelConfig):
  rgb (B, 3, S, S) float32, points (B, N, 3) float32, choose (B, N) int64, category (B,) int64.
Outputs: rotation (B, 3, 3), translation (B, 3) metres, size (B, 3) metres.
Farthest point sampling (config `point_encoder.sampling: fps`) is a fixed-length loop, unrolled in
the graph; `strided` sampling is a constant slice. The confounder samples are the queue entries at
the model's fixed inference indices, so the graph matches torch eval mode for the same seed.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from .network import CleanPose, example_inputs

logger = logging.getLogger(__name__)

INPUT_NAMES = ("rgb", "points", "choose", "category")
OUTPUT_NAMES = ("rotation", "translation", "size")
#: extra outputs of graphs exported since the NOCS-fit pose sources: keypoint NOCS and camera positions
KEYPOINT_OUTPUT_NAMES = ("kpt_nocs", "kpt_cam")


def export_onnx(model: CleanPose, path: str | Path, *, opset: int = 17, batch_example: int = 2) -> Path:
    """Export `model.inference_module()` to `path` with a dynamic batch axis; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = model.inference_module(keypoints=True)
    ex = example_inputs(model.config, batch_example)
    args = tuple(ex[k] for k in INPUT_NAMES)
    outputs = (*OUTPUT_NAMES, *KEYPOINT_OUTPUT_NAMES)
    dynamic_axes = {name: {0: "batch"} for name in (*INPUT_NAMES, *outputs)}
    with torch.no_grad(), warnings.catch_warnings():
        # Shape-derived python ints (N, k, strides) are constants of the config, so the tracer's
        # "might not generalise" warnings do not apply; only the batch axis is dynamic.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        # The TorchScript-based exporter unrolls the FPS loop and keeps the batch symbolic reliably.
        torch.onnx.export(module, args, str(path), input_names=list(INPUT_NAMES), output_names=list(outputs),
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)
    logger.info("exported %s (opset %d)", path, opset)
    return path
