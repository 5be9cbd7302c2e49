"""Decoded outputs and geometry: translation equivariance, valid rotations, symmetric
canonicalisation, gradient flow."""
from __future__ import annotations

import math
from typing import Callable

import torch

from cleanpose_ros.model.network import CleanPose, example_inputs
from cleanpose_ros.model.rotation import (canonicalise_symmetric, random_rotation, rotation_about_y,
                                          rotation_angle_deg, rotation_from_6d)

BatchFactory = Callable[..., dict[str, torch.Tensor]]  # the make_training_batch fixture (conftest.py)


def test_shifting_points_shifts_translation_exactly(lite_model: CleanPose) -> None:
    x = example_inputs(lite_model.config, 3)
    d = torch.tensor([0.13, -0.4, 0.25])
    module = lite_model.inference_module()
    with torch.no_grad():
        r0, t0, s0 = module(**x)
        r1, t1, s1 = module(**dict(x, points=x["points"] + d))
    assert float((t1 - t0 - d).abs().max()) < 2e-5  # metres, float32 round-off only
    assert float((r1 - r0).abs().max()) < 1e-4 and float((s1 - s0).abs().max()) < 1e-5


def test_rotation_from_6d_is_orthonormal_and_keeps_y_direction() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, 3, generator=g), torch.randn(100, 3, generator=g)
    r = rotation_from_6d(a, b)
    assert float((r.transpose(1, 2) @ r - torch.eye(3)).abs().max()) < 1e-5
    assert float((torch.linalg.det(r) - 1).abs().max()) < 1e-5
    assert float((r[:, :, 1] - b / b.norm(dim=-1, keepdim=True)).abs().max()) < 1e-5


def test_symmetric_canonicalisation_invariant_to_rotation_about_y() -> None:
    g = torch.Generator().manual_seed(1)
    base = random_rotation(20, 180.0, g)
    spins = rotation_about_y(torch.rand(20, generator=g) * 2 * math.pi)
    sym = torch.ones(20, dtype=torch.bool)
    a = canonicalise_symmetric(base, sym)
    b = canonicalise_symmetric(base @ spins, sym)
    assert float((a - b).abs().max()) < 1e-5
    # it only removes a spin about y: the y axis is unchanged and the result is a rotation
    assert float((a[:, :, 1] - base[:, :, 1]).abs().max()) < 1e-6
    assert float((torch.linalg.det(a) - 1).abs().max()) < 1e-5
    # non-symmetric instances are untouched
    assert torch.equal(canonicalise_symmetric(base, torch.zeros(20, dtype=torch.bool)), base)


def test_rotation_angle_of_known_rotation() -> None:
    r = rotation_about_y(torch.tensor([math.radians(30.0)]))
    assert abs(float(rotation_angle_deg(r, torch.eye(3).unsqueeze(0))) - 30.0) < 1e-3


def test_gradients_reach_every_trainable_parameter(make_training_batch: BatchFactory, lite_model: CleanPose) -> None:
    batch = make_training_batch(lite_model.config, 4)
    batch["category"] = torch.tensor([0, 1, 2, 3])
    batch["teacher_features"] = torch.randn(4, lite_model.config.distill.teacher_dim)
    lite_model.train()
    total, _ = lite_model.training_step(batch)
    total.backward()
    # The distillation MLP's last layer starts at zero (identity residual), so its first layer gets
    # an exactly zero gradient on the first step by construction; it must still be connected.
    zero_by_design = {"distill.mlp.0.weight"}
    for name, p in lite_model.named_parameters():
        assert p.grad is not None, f"{name} is not connected to the loss"
        assert torch.isfinite(p.grad).all(), name
        if name not in zero_by_design:
            assert float(p.grad.abs().sum()) > 0, f"{name} gets no gradient"


def test_augmentation_maps_ground_truth_with_the_points(lite_model: CleanPose) -> None:
    """Points built exactly as ||s|| R p_nocs + t stay consistent with the augmented ground truth."""
    g = torch.Generator().manual_seed(4)
    b, n = 3, lite_model.config.num_points
    nocs = torch.rand(b, n, 3, generator=g) - 0.5
    rotation = random_rotation(b, 180.0, g)
    size = torch.tensor([[0.1, 0.05, 0.08], [0.2, 0.1, 0.1], [0.07, 0.12, 0.07]])
    translation = torch.tensor([[0.0, 0.1, 0.8], [0.2, -0.1, 0.6], [-0.1, 0.0, 1.0]])
    points = size.norm(dim=-1).view(b, 1, 1) * nocs @ rotation.transpose(1, 2) + translation.unsqueeze(1)
    batch = dict(example_inputs(lite_model.config, b), points=points, gt_rotation=rotation,
                 gt_translation=translation, gt_size=size)
    out = lite_model._augment(batch)
    rebuilt = (out["gt_size"].norm(dim=-1).view(b, 1, 1) * nocs @ out["gt_rotation"].transpose(1, 2)
               + out["gt_translation"].unsqueeze(1))
    assert float((rebuilt - out["points"]).abs().max()) < 1e-5
    assert float((out["points"] - points).abs().max()) > 1e-3  # it did change something
    ratio = out["gt_size"] / size
    assert float((ratio - ratio[:, :1]).abs().max()) < 1e-6 and 0.8 <= float(ratio.min()) <= float(ratio.max()) <= 1.2
    angles = rotation_angle_deg(out["gt_rotation"] @ rotation.transpose(1, 2), torch.eye(3).expand(b, 3, 3))
    assert 1.0 < float(angles.max()) <= 3 * 20.0 + 1e-3  # three Euler angles of at most 20 deg each


def test_canonicalisation_of_upside_down_rotation_stays_a_rotation() -> None:
    upside_down = torch.diag(torch.tensor([1.0, -1.0, -1.0])).unsqueeze(0)
    out = canonicalise_symmetric(upside_down, torch.ones(1, dtype=torch.bool))
    assert torch.allclose(out, upside_down)
