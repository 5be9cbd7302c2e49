"""The CleanPose training objective: every loss term and the one `TrainingObjective` the trainer calls.

The network's `forward_train` (network.py) returns the tensors the terms need (`network.TrainOutputs`,
a typed dict; the keys each term reads are below); this module turns them into the weighted total. Two objectives exist:

- `reference` (default): the reductions of the authors' released code (model.md, Losses):
  NOCS SmoothL1 summed over x, y, z then averaged; diversity in its normalised form; rotation loss
  as the mean column-wise norm; reconstruction of the *observed* points around the 3D keypoints,
  Chamfer against the observed points within `mask_distance` of the object model.
- `legacy`: what this project trained its first weights with (NOCS averaged over xyz, unnormalised
  diversity sum, Frobenius rotation loss, CAD-model reconstruction in NOCS space around kpt_nocs).
  Kept for the equal-budget comparison in docs/training.md.

Units: keypoints, points and translations in metres; NOCS terms in NOCS units (box diagonal 1).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import ModelConfig
from .pointnet2_ops import square_distance

OBJECTIVES = ("reference", "legacy")


def _distance(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise Euclidean distances (B, N, M) of a (B, N, 3) and b (B, M, 3)."""
    return torch.sqrt(square_distance(a, b) + 1e-12)


def _nearest(squared: Tensor, dim: int) -> Tensor:
    """Distance to the nearest neighbour along `dim` of a squared-distance matrix: the square root is
    taken of the minima only (sqrt is monotonic), not of the whole (B, N, M) matrix."""
    return torch.sqrt(squared.amin(dim) + 1e-12)


# ----------------------------------------------------------------------------------- reference terms
def object_coverage_loss(kpt_3d: Tensor, points: Tensor) -> Tensor:
    """ocd: mean over batch and keypoints of the distance to the nearest observed point."""
    return _nearest(square_distance(kpt_3d, points), -1).mean()


def diversity_loss(kpt_3d: Tensor, threshold: float) -> Tensor:
    """div (normalised): per ordered pair i != j, 1 - min(d_ij, th) / th; summed, / K(K-1); batch mean."""
    k = kpt_3d.shape[1]
    eye = torch.eye(k, dtype=kpt_3d.dtype, device=kpt_3d.device)
    # the diagonal gets distance th (+ eye * th) so it contributes exactly 0
    dist = (_distance(kpt_3d, kpt_3d) * (1 - eye) + eye * threshold).clamp_max(threshold)
    return ((1.0 - dist / threshold).sum((1, 2)) / (k * (k - 1))).mean()


def nocs_target(kpt_3d_cam: Tensor, gt_rotation: Tensor, gt_translation: Tensor, gt_size: Tensor) -> Tensor:
    """Where the keypoints lie in the ground-truth NOCS frame: R^T (kpt - t) / ||size||, (B, K, 3)."""
    scale = gt_size.norm(dim=-1).view(-1, 1, 1)
    return (kpt_3d_cam - gt_translation.unsqueeze(1)) @ gt_rotation / scale


def nocs_loss(kpt_nocs: Tensor, target: Tensor, beta: float) -> Tensor:
    """nocs: SmoothL1 (beta) summed over x, y, z, averaged over keypoints and batch."""
    return F.smooth_l1_loss(kpt_nocs, target, beta=beta, reduction="none").sum(-1).mean()


def pose_loss(rotation: Tensor, translation: Tensor, size: Tensor, gt_rotation: Tensor,
              gt_translation: Tensor, gt_size: Tensor) -> Tensor:
    """pose: mean column-wise L2 norm of R - R_gt (over batch and the 3 columns) + mean ||t - t_gt||
    + mean ||s - s_gt||."""
    return ((rotation - gt_rotation).norm(dim=1).mean() + (translation - gt_translation).norm(dim=-1).mean()
            + (size - gt_size).norm(dim=-1).mean())


def object_point_mask(points_cam: Tensor, gt_rotation: Tensor, gt_translation: Tensor, gt_size: Tensor,
                      model_points: Tensor, max_distance: float) -> Tensor:
    """(B, N) bool: observed points whose ground-truth NOCS position lies within `max_distance` of the
    object model (the reference's pc_mask: background and neighbour points leaking into the mask fail)."""
    with torch.no_grad():  # a mask: no gradient, and squared distances against the squared threshold
        nocs = nocs_target(points_cam, gt_rotation, gt_translation, gt_size)
        return square_distance(nocs, model_points).amin(-1) < max_distance ** 2


def masked_chamfer_loss(observed: Tensor, recon: Tensor, mask: Tensor) -> Tensor:
    """recon: per sample 0.5 * mean_{valid observed} min dist to recon + 0.5 * mean_{recon} min dist to
    the valid observed points; samples without a valid point add 0; summed and divided by B."""
    d2 = square_distance(observed, recon)  # (B, N, R)
    valid = mask.to(d2.dtype)
    n_valid = valid.sum(-1)  # (B,)
    to_recon = (_nearest(d2, -1) * valid).sum(-1) / n_valid.clamp_min(1.0)
    # masked-out observed points must never be the nearest: push their rows out of reach
    far = (~mask).to(d2.dtype).unsqueeze(-1) * 1e6
    to_observed = _nearest(d2 + far, 1)  # (B, R)
    to_observed = torch.where(n_valid.unsqueeze(-1) > 0, to_observed, torch.zeros_like(to_observed))
    per_sample = 0.5 * to_recon + 0.5 * to_observed.mean(-1)
    return per_sample.sum() / observed.shape[0]


def delta_loss(delta: Tensor) -> Tensor:
    """delta: mean length of the reconstruction offsets (keeps them local to their keypoint)."""
    return delta.norm(dim=-1).mean()


def distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """KD: mean L2 norm of student - teacher (B, D)."""
    return (student - teacher.detach()).norm(dim=-1).mean()


# ----------------------------------------------------------------------------------- legacy terms
def legacy_diversity_loss(kpt_3d: Tensor, threshold: float) -> Tensor:
    """The first objective's diversity: sum over unordered pairs of max(th - d, 0), batch mean."""
    k = kpt_3d.shape[1]
    upper = torch.triu(torch.ones(k, k, dtype=torch.bool, device=kpt_3d.device), diagonal=1)
    return (F.relu(threshold - _distance(kpt_3d, kpt_3d)) * upper).sum((1, 2)).mean()


def legacy_nocs_loss(kpt_nocs: Tensor, target: Tensor, beta: float) -> Tensor:
    """The first objective's NOCS term: SmoothL1 averaged over x, y, z too (a third of the reference)."""
    return F.smooth_l1_loss(kpt_nocs, target, beta=beta)


def legacy_pose_loss(rotation: Tensor, translation: Tensor, size: Tensor, gt_rotation: Tensor,
                     gt_translation: Tensor, gt_size: Tensor) -> Tensor:
    """The first objective's pose term: mean of ||R - R_gt||_F + ||t - t_gt|| + ||s - s_gt||."""
    return ((rotation - gt_rotation).flatten(1).norm(dim=-1) + (translation - gt_translation).norm(dim=-1)
            + (size - gt_size).norm(dim=-1)).mean()


def legacy_reconstruction_loss(recon: Tensor, model_points: Tensor, mask_distance: float) -> Tensor:
    """The first objective's recon: Chamfer in NOCS units between a CAD-model reconstruction around
    kpt_nocs and the model points (reconstructed points farther than mask_distance ignored)."""
    d2 = square_distance(recon, model_points)
    to_model = _nearest(d2, -1)
    to_recon = _nearest(d2, 1)
    mask = (to_model < mask_distance).to(recon.dtype)
    masked = (to_model * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)
    return (masked + to_recon.mean(-1)).mean()


# ----------------------------------------------------------------------------------- the objective
class TrainingObjective:
    """Weighted sum of the terms over `CleanPose.forward_train` outputs.

    Output keys used: points_cam (B, N, 3) the augmented observed points, points (centred), centre,
    kpt_3d (centred), kpt_nocs, rotation, translation, size, gt_rotation (symmetry-canonicalised),
    gt_translation, gt_size; optional recon / recon_delta (+ model_points for the masks), student /
    teacher (KD), object_mask (B, N) bool (precomputed; else computed from model_points). Returns (total, {term: weighted value, ..., "total": value}).
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.objective = config.loss.objective
        self.weights = config.weights

    def terms(self, out: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The unweighted terms present for these outputs."""
        cfg, legacy = self.config.loss, self.objective == "legacy"
        kpt_cam = out["kpt_3d"] + out["centre"].unsqueeze(1)
        target = nocs_target(kpt_cam, out["gt_rotation"], out["gt_translation"], out["gt_size"])
        pose_args = (out["rotation"], out["translation"], out["size"], out["gt_rotation"], out["gt_translation"],
                     out["gt_size"])
        terms = {
            "ocd": object_coverage_loss(out["kpt_3d"], out["points"]),
            "div": (legacy_diversity_loss if legacy else diversity_loss)(out["kpt_3d"], cfg.div_threshold),
            "nocs": (legacy_nocs_loss if legacy else nocs_loss)(out["kpt_nocs"], target, cfg.nocs_beta),
            "pose": (legacy_pose_loss if legacy else pose_loss)(*pose_args),
        }
        if "recon" in out and "model_points" in out:
            mask_distance = self.config.recon.mask_distance
            if legacy:
                terms["recon"] = legacy_reconstruction_loss(out["recon"], out["model_points"], mask_distance)
            else:
                mask = out.get("object_mask")
                if mask is None:
                    mask = object_point_mask(out["points_cam"], out["gt_rotation"], out["gt_translation"],
                                             out["gt_size"], out["model_points"], mask_distance)
                terms["recon"] = masked_chamfer_loss(out["points"], out["recon"], mask)
            terms["delta"] = delta_loss(out["recon_delta"])
        if "student" in out and "teacher" in out:
            terms["kd"] = distillation_loss(out["student"], out["teacher"])
        return terms

    def __call__(self, out: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        w = self.weights
        weighted = {k: getattr(w, k) * v for k, v in self.terms(out).items() if getattr(w, k) > 0}
        total = torch.stack(list(weighted.values())).sum()
        values = {k: float(v.detach()) for k, v in weighted.items()}  # logged with the weight applied
        values["total"] = float(total.detach())
        return total, values
