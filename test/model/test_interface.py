"""The interface other components code against: shapes, decoded outputs, training step."""
from __future__ import annotations

from typing import Callable

import pytest
import torch

from cleanpose_ros.model.config import load_model_config
from cleanpose_ros.model.network import CleanPose, example_inputs

BatchFactory = Callable[..., dict[str, torch.Tensor]]  # the make_training_batch fixture (conftest.py)


@pytest.mark.parametrize("batch", [1, 5])
def test_inference_shapes_and_valid_rotations(lite_model: CleanPose, batch: int) -> None:
    x = example_inputs(lite_model.config, batch)
    with torch.no_grad():
        rotation, translation, size = lite_model.inference_module()(**x)
    assert rotation.shape == (batch, 3, 3) and translation.shape == (batch, 3) and size.shape == (batch, 3)
    eye = rotation.transpose(1, 2) @ rotation
    assert torch.allclose(eye, torch.eye(3).expand_as(eye), atol=1e-5)
    assert torch.allclose(torch.linalg.det(rotation), torch.ones(batch), atol=1e-5)


def test_training_step_reports_every_term(make_training_batch: BatchFactory, lite_model: CleanPose) -> None:
    batch = make_training_batch(lite_model.config, 3)
    batch["teacher_features"] = torch.randn(3, 768)
    lite_model.train()
    total, terms = lite_model.training_step(batch)
    assert set(terms) == {"ocd", "div", "nocs", "pose", "recon", "delta", "kd", "total"}
    assert torch.isfinite(total) and abs(terms["total"] - total.item()) < 1e-4
    # terms are logged with their weight applied (as the reference logs them): they sum to the total
    expected = sum(terms[k] for k in ("ocd", "div", "nocs", "pose", "recon", "delta", "kd"))
    assert abs(expected - terms["total"]) < 1e-4 * max(1.0, abs(expected))


def test_optional_terms_skipped_without_their_inputs(make_training_batch: BatchFactory, lite_model: CleanPose) -> None:
    batch = make_training_batch(lite_model.config, 2)
    del batch["model_points"]
    _, terms = lite_model.training_step(batch)
    assert "recon" not in terms and "delta" not in terms and "kd" not in terms


def test_both_named_configs_load() -> None:
    paper, lite = load_model_config("paper"), load_model_config("lite")
    assert (paper.keypoints.num_keypoints, paper.feature_dim, paper.causal.queue_size, paper.causal.num_samples,
            paper.num_points, paper.image_encoder.kind) == (96, 256, 80, 12, 1024, "dino")
    assert lite.num_points < paper.num_points and lite.crop_size < paper.crop_size


def test_paper_config_builds_trains_a_step_and_infers(make_training_batch: BatchFactory) -> None:
    torch.manual_seed(0)
    model = CleanPose(load_model_config("paper"))
    assert model.config.keypoints.num_keypoints == 96
    batch = make_training_batch(model.config, 2)
    total, terms = model.training_step(batch)
    total.backward()
    assert torch.isfinite(total) and set(terms) >= {"ocd", "div", "nocs", "pose", "recon", "delta"}
    with torch.no_grad():
        rotation, translation, size = model.inference_module()(**example_inputs(model.config, 1))
    assert rotation.shape == (1, 3, 3) and torch.isfinite(translation).all() and torch.isfinite(size).all()
