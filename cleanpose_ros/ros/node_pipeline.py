"""The node's pipeline from its parameters, without ROS: the node and the rosbag replay tool
build their pipeline here, so a replayed bag runs exactly what the node runs."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, WeightsError
from ..core.pipeline import Pipeline
from ..engines.factory import build_pipeline as build_engine_pipeline
from ..resources import find_resource
from .params import NodeConfig

SHIPPED_WEIGHTS = "weights/cleanpose_lite.pt"


def resolve_weights(path: str) -> Path:
    """The configured weights path, or the shipped lite weights when empty."""
    if path:
        return Path(path).expanduser()
    try:
        return find_resource(SHIPPED_WEIGHTS)
    except FileNotFoundError as e:
        raise WeightsError(f"no weights given (inference.weights) and {e}") from None


def build_pipeline(config: NodeConfig) -> Pipeline:
    """Load the weights and apply the node's filters on top of the model's own preprocessing."""
    inf = config.inference
    options: dict[str, Any] = {"num_threads": inf.num_threads} if inf.num_threads > 0 else {}
    options["fallback"] = inf.device_fallback
    if inf.parallel_batches > 1 and inf.engine == "onnx":  # torch parallelises inside its operators
        options["parallel_batches"] = inf.parallel_batches
    if inf.engine == "triton":  # the server decides threads and devices; the client needs its address
        options = {"fallback": inf.device_fallback, **inf.triton.engine_options()}
    base = build_engine_pipeline(resolve_weights(inf.weights), engine=inf.engine, device=inf.device, seed=inf.seed,
                                 confidence=inf.confidence or None, **options)
    known = set(base.config.categories)
    unknown = sorted(set(config.filters.enabled_categories) - known)
    if unknown:
        raise ConfigError(f"parameters.filters.enabled_categories: {unknown} are not categories of the model "
                          f"({sorted(known)})")
    f = config.filters
    preprocess = dataclasses.replace(base.config.preprocess, min_depth_m=f.min_depth_m, max_depth_m=f.max_depth_m,
                                     min_points=f.min_points)
    pipeline_config = dataclasses.replace(base.config, preprocess=preprocess, score_threshold=f.score_threshold,
                                          max_objects=f.max_objects, enabled_categories=tuple(f.enabled_categories),
                                          pose_source=inf.pose_source,
                                          plausibility=dataclasses.replace(base.config.plausibility, enabled=f.plausibility))
    return Pipeline(base.engine, pipeline_config, seed=inf.seed, confidence=base.confidence_model)
