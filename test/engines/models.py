"""Real networks and engine wrappers shared by the runtime tests (test/engines, test/core/test_pipeline.py).

The networks are the real `lite` CleanPose, random-initialised. Random weights give random box
sizes, about half of them negative, which postprocessing rightly refuses; `lite_test_model`
shifts the bias of the size regressor's last layer so sizes come out positive and every object
yields a pose, and fills the confounder queue with random features (an empty queue would make
the causal module's samples all zeros, and the seed of the samples irrelevant).
The wrappers only count calls or inject faults around a real engine.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from cleanpose_ros.core.engine import Engine
from cleanpose_ros.model.config import load_model_config
from cleanpose_ros.model.network import CleanPose

SIZE_BIAS_M = 0.3


def lite_test_model(seed: int = 0) -> CleanPose:
    torch.manual_seed(seed)
    model = CleanPose(load_model_config("lite"), seed=seed)
    with torch.no_grad():
        model.pose_head.size[-1].bias.add_(SIZE_BIAS_M)
        model.queue.entries.normal_()
        model.queue.count.fill_(model.queue.size)
    return model.eval()


class CountingEngine:
    """Delegates to a real engine and records the batch size of every call."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.kind, self.active_provider, self.info = inner.kind, inner.active_provider, inner.info
        self.fallback_note = inner.fallback_note
        self.output_names = inner.output_names
        self.batch_sizes: list[int] = []
        self.last_inputs: dict[str, np.ndarray] = {}

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batch_sizes.append(int(inputs["rgb"].shape[0]))
        self.last_inputs = dict(inputs)
        return self.inner.run(inputs)


class FaultInjectingEngine(CountingEngine):
    """A real engine whose outputs get NaN / inf written into chosen batch rows."""

    def __init__(self, inner: Engine, nan_rotation_rows: tuple[int, ...] = (),
                 inf_translation_rows: tuple[int, ...] = (), nan_size_rows: tuple[int, ...] = ()) -> None:
        super().__init__(inner)
        self.faults = (nan_rotation_rows, inf_translation_rows, nan_size_rows)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v.copy() for k, v in super().run(inputs).items()}
        nan_rot, inf_trans, nan_size = self.faults
        out["rotation"][list(nan_rot)] = np.nan
        out["translation"][list(inf_trans), 0] = np.inf
        out["size"][list(nan_size), 2] = np.nan
        return out
