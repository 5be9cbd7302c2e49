"""The CleanPose training losses (model.md, Losses). Every function returns a scalar tensor averaged
over the batch; `network.CleanPose.training_step` weights and sums them.

Units: keypoints, points and translations in metres (centred or not, consistently); NOCS terms in
NOCS units (the object's box diagonal is 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .pointnet2_ops import square_distance


def object_coverage_loss(kpt_3d: Tensor, points: Tensor) -> Tensor:
    """ocd: mean distance from each keypoint to its nearest object point (keeps keypoints on the object)."""
    return torch.sqrt(square_distance(kpt_3d, points).amin(-1) + 1e-12).mean()


def diversity_loss(kpt_3d: Tensor, threshold: float) -> Tensor:
    """div: sum over keypoint pairs of max(threshold - distance, 0) (spreads keypoints apart)."""
    k = kpt_3d.shape[1]
    dist = torch.sqrt(square_distance(kpt_3d, kpt_3d) + 1e-12)
    upper = torch.triu(torch.ones(k, k, dtype=torch.bool, device=kpt_3d.device), diagonal=1)
    return (F.relu(threshold - dist) * upper).sum((1, 2)).mean()


def nocs_loss(kpt_nocs: Tensor, kpt_3d_cam: Tensor, gt_rotation: Tensor, gt_translation: Tensor,
              gt_size: Tensor, beta: float) -> Tensor:
    """nocs: SmoothL1 between predicted keypoint NOCS and R^T (kpt_3d - t) / ||size||."""
    scale = gt_size.norm(dim=-1).view(-1, 1, 1)
    target = (kpt_3d_cam - gt_translation.unsqueeze(1)) @ gt_rotation / scale
    return F.smooth_l1_loss(kpt_nocs, target, beta=beta)


def pose_loss(rotation: Tensor, translation: Tensor, size: Tensor, gt_rotation: Tensor,
              gt_translation: Tensor, gt_size: Tensor) -> Tensor:
    """pose: mean of ||R - R_gt||_F + ||t - t_gt|| + ||s - s_gt||."""
    return ((rotation - gt_rotation).flatten(1).norm(dim=-1) + (translation - gt_translation).norm(dim=-1)
            + (size - gt_size).norm(dim=-1)).mean()


def reconstruction_loss(recon: Tensor, model_points: Tensor, mask_distance: float) -> Tensor:
    """recon: Chamfer distance in NOCS units between reconstructed and model points.

    Model -> reconstruction is complete; reconstruction -> model counts only reconstructed points
    within `mask_distance` of the model, so stray points do not dominate early training.
    """
    d2 = square_distance(recon, model_points)
    to_model = torch.sqrt(d2.amin(-1) + 1e-12)  # (B, R)
    to_recon = torch.sqrt(d2.amin(1) + 1e-12)  # (B, M)
    mask = (to_model < mask_distance).to(recon.dtype)
    masked = (to_model * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)
    return (masked + to_recon.mean(-1)).mean()


def delta_loss(delta: Tensor) -> Tensor:
    """delta: mean length of the reconstruction offsets (keeps them local to their keypoint)."""
    return delta.norm(dim=-1).mean()


def distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """KD: mean L2 norm of student - teacher (B, D)."""
    return (student - teacher.detach()).norm(dim=-1).mean()
