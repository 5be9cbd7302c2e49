"""Pose error measures of the NOCS protocol (pure numpy).

Argument order is always (estimate, ground truth). Units: rotation errors in degrees,
translation and size errors in centimetres (inputs in metres). Every function broadcasts over
leading dimensions, so the same code serves one pair and a (P, G) table of pairs.

A non-finite input gives a NaN error; NaN never passes a threshold in this package
(see matching.py), which differs from the reference NOCS code where a NaN compares as "within".
"""
from __future__ import annotations

import numpy as np

from ..core.types import SYMMETRIC_CATEGORIES

_CM_PER_M = 100.0


def uses_y_symmetry(category: str, handle_visible: bool = True) -> bool:
    """True when the protocol ignores rotation about the canonical y axis for this object.

    bottle, bowl and can always; a mug only when its handle is not visible (then nothing tells
    its rotation about y apart).
    """
    return category in SYMMETRIC_CATEGORIES or (category == "mug" and not bool(handle_visible))


def split_srt(srt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 4, 4) [[s R, t], [0, 1]] -> (R (..., 3, 3), t (..., 3), s (...,)).

    s = cbrt(det(s R)) as in the NOCS evaluation, so R is exactly sR / s.
    """
    srt = np.asarray(srt, dtype=np.float64)
    sr = srt[..., :3, :3]
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN poses give NaN, counted downstream
        scale = np.cbrt(np.linalg.det(sr))
        rotation = sr / scale[..., None, None]
    return rotation, srt[..., :3, 3], scale


def rotation_error_deg(R_est: np.ndarray, R_gt: np.ndarray, symmetric: bool | np.ndarray = False) -> np.ndarray:
    """Rotation error in degrees.

    Non-symmetric: geodesic angle arccos((trace(R_est R_gt^T) - 1) / 2).
    Symmetric (`symmetric` True, broadcast per pair): angle between the rotated y axes,
    arccos(<R_est e_y, R_gt e_y>), so any rotation about the object's y axis costs nothing.
    The arccos argument is clipped to [-1, 1]; the reference NOCS code does not clip in the
    symmetric branch and returns NaN for a perfect prediction, which we avoid.
    """
    r_est = np.asarray(R_est, dtype=np.float64)
    r_gt = np.asarray(R_gt, dtype=np.float64)
    cos_full = (np.einsum("...ij,...ij->...", r_est, r_gt) - 1.0) / 2.0  # trace(A B^T) = sum(A * B)
    y_est = r_est[..., :, 1]
    y_gt = r_gt[..., :, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_y = np.sum(y_est * y_gt, axis=-1) / (np.linalg.norm(y_est, axis=-1) * np.linalg.norm(y_gt, axis=-1))
    cos = np.where(np.asarray(symmetric, dtype=bool), cos_y, cos_full)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def translation_error_cm(t_est: np.ndarray, t_gt: np.ndarray) -> np.ndarray:
    """Euclidean distance of the box centres, centimetres (inputs in metres)."""
    diff = np.asarray(t_est, dtype=np.float64) - np.asarray(t_gt, dtype=np.float64)
    return np.linalg.norm(diff, axis=-1) * _CM_PER_M


def size_error_cm(size_est_m: np.ndarray, size_gt_m: np.ndarray) -> np.ndarray:
    """Euclidean norm of the difference of the metric box extents (x, y, z), centimetres."""
    diff = np.asarray(size_est_m, dtype=np.float64) - np.asarray(size_gt_m, dtype=np.float64)
    return np.linalg.norm(diff, axis=-1) * _CM_PER_M


def pairwise_pose_errors(pred_srts: np.ndarray, gt_srts: np.ndarray, gt_symmetric: np.ndarray) -> np.ndarray:
    """Errors of every (prediction, ground truth) pair.

    pred_srts (P, 4, 4), gt_srts (G, 4, 4) with scale folded in; gt_symmetric (G,) bool (from
    uses_y_symmetry of each ground truth). Returns (P, G, 2): [..., 0] rotation error in degrees,
    [..., 1] translation error in cm.
    """
    r_pred, t_pred, _ = split_srt(pred_srts)
    r_gt, t_gt, _ = split_srt(gt_srts)
    rot = rotation_error_deg(r_pred[:, None], r_gt[None, :], np.asarray(gt_symmetric, dtype=bool)[None, :])
    trans = translation_error_cm(t_pred[:, None], t_gt[None, :])
    return np.stack([rot, trans], axis=-1).reshape(len(r_pred), len(r_gt), 2)
