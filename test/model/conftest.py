"""Shared fixtures of the model tests: one thread (2 shared cores), small lite models built once."""
from __future__ import annotations

import pytest
import torch

from cleanpose_ros.model.config import ModelConfig, load_model_config
from cleanpose_ros.model.network import CleanPose

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lite_config() -> ModelConfig:
    return load_model_config("lite")


@pytest.fixture()
def lite_model(lite_config: ModelConfig) -> CleanPose:
    torch.manual_seed(0)
    return CleanPose(lite_config)
