"""Shared fixtures of the model tests: one thread (2 shared cores), small lite models built once."""
from __future__ import annotations

from typing import Callable

import pytest
import torch

from cleanpose_ros.model.config import ModelConfig, load_model_config
from cleanpose_ros.model.network import CleanPose, example_inputs

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lite_config() -> ModelConfig:
    return load_model_config("lite")


@pytest.fixture()
def lite_model(lite_config: ModelConfig) -> CleanPose:
    torch.manual_seed(0)
    return CleanPose(lite_config)


def _training_batch(config: ModelConfig, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Well-formed training batch: identity rotations, the centroid as translation, 10 cm boxes."""
    x = example_inputs(config, batch, seed)
    x["gt_rotation"] = torch.eye(3).repeat(batch, 1, 1)
    x["gt_translation"] = x["points"].mean(1)
    x["gt_size"] = torch.full((batch, 3), 0.1)
    x["model_points"] = torch.rand(batch, 128, 3) - 0.5
    return x


@pytest.fixture()
def make_training_batch() -> Callable[..., dict[str, torch.Tensor]]:
    return _training_batch
