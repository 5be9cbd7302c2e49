"""ModelConfig validation and lookup."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from cleanpose_ros.core.config import to_dict
from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.model.config import LOSS_PRESETS, LossWeights, ModelConfig, load_model_config


def test_yaml_path_round_trip(tmp_path: Path) -> None:
    lite = load_model_config("lite")
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(to_dict(lite)))
    assert load_model_config(str(path)) == lite


def test_unknown_key_and_bad_values_are_refused(tmp_path: Path) -> None:
    data = to_dict(load_model_config("lite"))
    data["keypoints"]["num_kpts"] = 3
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="num_kpts"):
        load_model_config(str(tmp_path / "a.yaml"))
    with pytest.raises(ConfigError, match="feature_dim"):
        replace(load_model_config("lite"), feature_dim=200)
    with pytest.raises(ConfigError, match="num_samples"):
        load_model_config("lite").causal.__class__(queue_size=4, num_samples=5)
    with pytest.raises(ConfigError):
        load_model_config("no_such_config")


def test_loss_weight_presets_and_explicit_values() -> None:
    lite = load_model_config("lite")
    assert lite.weights == LOSS_PRESETS["code"] and lite.weights.recon == 15.0 and lite.weights.ocd == 2.0
    paper = replace(lite, loss_weights="paper")
    assert (paper.weights.ocd, paper.weights.div, paper.weights.nocs, paper.weights.recon) == (1.0, 5.0, 1.0, 0.0)
    explicit = replace(lite, loss_weights=LossWeights(kd=0.5))
    assert explicit.weights.kd == 0.5


def test_dino_needs_patch_multiple_crop() -> None:
    with pytest.raises(ConfigError, match="divisible by 14"):
        ModelConfig(crop_size=128, image_encoder=replace(ModelConfig().image_encoder, kind="dino"))
