"""Every loss term against a value worked out by hand from the formulas of model.md (Losses), on
tiny hand-made inputs; and the objective's wiring (weights applied, legacy kept apart)."""
from __future__ import annotations

import math

import pytest
import torch

from cleanpose_ros.model.config import load_model_config
from cleanpose_ros.model.losses import (TrainingObjective, delta_loss, distillation_loss, diversity_loss,
                                        legacy_diversity_loss, legacy_nocs_loss, legacy_pose_loss, masked_chamfer_loss,
                                        nocs_loss, nocs_target, object_coverage_loss, object_point_mask, pose_loss)

T = torch.tensor


def test_ocd_mean_distance_to_nearest_point():
    kpt = T([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    pts = T([[[0.0, 0.0, 0.3], [1.0, 0.4, 0.0], [5.0, 5.0, 5.0]]])
    assert object_coverage_loss(kpt, pts).item() == pytest.approx((0.3 + 0.4) / 2, abs=1e-6)


def test_diversity_normalised_form():
    # K = 3 on a line: d01 = 0.004, d12 = 0.006, d02 = 0.010 (= th, contributes 0); th = 0.01
    kpt = T([[[0.0, 0.0, 0.0], [0.004, 0.0, 0.0], [0.010, 0.0, 0.0]]])
    per_pair = (1 - 0.4) + (1 - 0.6) + 0.0  # unordered pairs; ordered pairs count each twice
    expected = 2 * per_pair / (3 * 2)
    assert diversity_loss(kpt, 0.01).item() == pytest.approx(expected, abs=1e-5)
    # all keypoints on one spot: every pair gives 1 -> 1 (the diagonal adds nothing); the distance's
    # sqrt(d^2 + 1e-12) guard (a finite gradient at d = 0) makes it 1 - 1e-6 / th
    assert diversity_loss(torch.zeros(2, 4, 3), 0.01).item() == pytest.approx(1.0, abs=2e-4)
    # the legacy sum of max(th - d, 0) over unordered pairs
    assert legacy_diversity_loss(kpt, 0.01).item() == pytest.approx(0.006 + 0.004, abs=1e-6)


def test_nocs_smooth_l1_summed_over_xyz():
    # one keypoint: errors 0.05 (quadratic: 0.5 * 0.05^2 / 0.1), 0.3 (linear: 0.3 - 0.05), 0
    pred, target = T([[[0.05, 0.3, 0.0]]]), torch.zeros(1, 1, 3)
    expected = 0.5 * 0.05 ** 2 / 0.1 + (0.3 - 0.05)
    assert nocs_loss(pred, target, 0.1).item() == pytest.approx(expected, abs=1e-6)
    assert legacy_nocs_loss(pred, target, 0.1).item() == pytest.approx(expected / 3, abs=1e-6)


def test_nocs_target_is_rt_inverse_over_scale():
    rot = T([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])  # 90 deg about z
    t, size = T([[0.0, 0.0, 1.0]]), T([[0.3, 0.0, 0.4]])  # ||size|| = 0.5
    kpt = T([[[0.0, 0.25, 1.0]]])  # = t + 0.5 * R @ (0.5, 0, 0)
    assert torch.allclose(nocs_target(kpt, rot, t, size), T([[[0.5, 0.0, 0.0]]]), atol=1e-6)


def test_pose_loss_columnwise_rotation_norm():
    eye = torch.eye(3).unsqueeze(0)
    rz = T([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    # columns of rz - I: (-1, 1, 0), (-1, -1, 0), (0, 0, 0) -> norms sqrt2, sqrt2, 0 -> mean 2 sqrt2 / 3
    t, t_gt = T([[0.0, 0.0, 0.0]]), T([[0.03, 0.04, 0.0]])  # 0.05
    s, s_gt = T([[0.1, 0.1, 0.1]]), T([[0.1, 0.1, 0.2]])  # 0.1
    expected = 2 * math.sqrt(2) / 3 + 0.05 + 0.1
    assert pose_loss(rz, t, s, eye, t_gt, s_gt).item() == pytest.approx(expected, abs=1e-6)
    assert legacy_pose_loss(rz, t, s, eye, t_gt, s_gt).item() == pytest.approx(2 + 0.05 + 0.1, abs=1e-6)


def test_masked_chamfer_by_hand():
    observed = T([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [9.0, 9.0, 9.0]]])
    mask = T([[True, True, False]])  # the far point is background: left out
    recon = T([[[0.0, 0.1, 0.0], [1.0, 0.0, 0.2]]])
    # observed -> recon: 0.1, 0.2 -> mean 0.15; recon -> valid observed: 0.1, 0.2 -> mean 0.15
    assert masked_chamfer_loss(observed, recon, mask).item() == pytest.approx(0.5 * 0.15 + 0.5 * 0.15, abs=1e-6)
    # a second sample with no valid point adds 0 but still counts in the batch mean (reference: / B)
    both = masked_chamfer_loss(torch.cat([observed, observed]), torch.cat([recon, recon]),
                               torch.cat([mask, torch.zeros_like(mask)]))
    assert both.item() == pytest.approx(0.15 / 2, abs=1e-6)


def test_object_point_mask_uses_model_distance_in_nocs():
    model = T([[[0.0, 0.0, 0.0], [0.2, 0.0, 0.0]]])
    eye, t, size = torch.eye(3).unsqueeze(0), T([[0.0, 0.0, 1.0]]), T([[0.0, 0.0, 0.5]])  # scale 0.5
    pts = T([[[0.1, 0.0, 1.0], [0.0, 0.2, 1.0]]])  # NOCS (0.2, 0, 0): on the model; (0, 0.4, 0): 0.4 away
    assert object_point_mask(pts, eye, t, size, model, 0.1).tolist() == [[True, False]]


def test_delta_and_kd():
    assert delta_loss(T([[[[3.0, 4.0, 0.0]], [[0.0, 0.0, 1.0]]]])).item() == pytest.approx(3.0)
    assert distillation_loss(T([[1.0, 1.0]]), T([[4.0, 5.0]])).item() == pytest.approx(5.0)


def test_objective_weights_and_legacy_option(make_training_batch):
    from dataclasses import replace

    from cleanpose_ros.model.network import CleanPose

    config = load_model_config("lite")
    torch.manual_seed(0)
    model = CleanPose(config)
    batch = make_training_batch(config, 3)
    out = model.forward_train(batch)
    objective = TrainingObjective(config)
    raw = objective.terms(out)
    total, logged = objective(out)
    for k, v in raw.items():  # logged with the weight applied, as the reference logs them
        assert logged[k] == pytest.approx(getattr(config.weights, k) * float(v.detach()), rel=1e-5)
    assert logged["total"] == pytest.approx(sum(logged[k] for k in raw), rel=1e-5)
    legacy = TrainingObjective(replace(config, loss=replace(config.loss, objective="legacy")))
    assert legacy.terms(out)["nocs"].item() == pytest.approx(raw["nocs"].item() / 3, rel=1e-4)


def test_recon_sends_no_gradient_into_nocs(make_training_batch):
    from cleanpose_ros.model.network import CleanPose

    config = load_model_config("lite")
    torch.manual_seed(0)
    model = CleanPose(config)
    out = model.forward_train(make_training_batch(config, 2))
    out["kpt_nocs"].retain_grad()
    TrainingObjective(config).terms(out)["recon"].backward()
    assert out["kpt_nocs"].grad is None or float(out["kpt_nocs"].grad.abs().max()) == 0.0


def test_mug_without_visible_handle_gets_symmetric_target(make_training_batch):
    from cleanpose_ros.model.network import CleanPose

    config = load_model_config("lite")
    model = CleanPose(config).eval()  # eval: no augmentation, so the target is the given rotation
    batch = make_training_batch(config, 2)
    a = math.radians(50)
    spun = T([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    batch["gt_rotation"] = spun.expand(2, 3, 3).clone()
    batch["category"] = torch.full((2,), config.categories.index("mug"))
    batch["handle_visibility"] = T([0, 1])
    out = model.forward_train(batch)
    assert torch.allclose(out["gt_rotation"][0], torch.eye(3), atol=1e-6)  # spin about y removed
    assert torch.allclose(out["gt_rotation"][1], spun, atol=1e-6)  # handle visible: kept
    assert out["y_symmetric"].tolist() == [True, False]
