"""3D IoU of NOCS boxes, in the two variants the literature reports (pure numpy).

A box is the tight box of normalised extents `scales` (diagonal ~1) centred at the NOCS origin,
mapped to the camera by the 4x4 `srt` = [[s R, t], [0, 1]]. Both variants then compare the
camera-frame corners through axis-aligned extents:

- "corrected" (CATRE): per camera coordinate, min/max over the 8 corners -> the camera-axis
  aligned bounding box of each rotated box; IoU of these two boxes.
- "legacy" (original NOCS / CleanPose `evaluation_utils`): the min/max are taken over the wrong
  axis, i.e. per CORNER over its (x, y, z) coordinates. Each box becomes 8 intervals and the
  "volume" is the product of their 8 lengths. This reproduces that bug on purpose so our numbers
  can be compared with published tables; it is not a geometric IoU (e.g. two disjoint boxes can
  score > 0). Any corner order works as long as both boxes use the same one, because a common
  permutation of the 8 intervals leaves both products unchanged.

Symmetric objects (see pose_errors.uses_y_symmetry): the prediction is rotated about its own
y axis by 2*pi*k/20, k = 0..19, and the best IoU is kept (NOCS protocol).
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from ..core.geometry import box_corners, rotation_about_y

IouVariant = Literal["corrected", "legacy"]
IOU_VARIANTS: tuple[IouVariant, ...] = ("corrected", "legacy")
#: Number of prediction rotations about y tried for symmetric objects.
N_SYMMETRY_ROTATIONS = 20

_UNIT_CORNERS = box_corners(np.ones(3))  # (8, 3), +-0.5
_Y_ROTATIONS = np.stack([
    np.block([[rotation_about_y(2.0 * np.pi * k / N_SYMMETRY_ROTATIONS), np.zeros((3, 1))],
              [np.zeros((1, 3)), np.ones((1, 1))]])
    for k in range(N_SYMMETRY_ROTATIONS)
])  # (20, 4, 4)


def box_corners_camera(srt: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Camera-frame corners (..., 8, 3) of boxes with normalised extents scales (..., 3)."""
    srt = np.asarray(srt, dtype=np.float64)
    local = _UNIT_CORNERS * np.asarray(scales, dtype=np.float64)[..., None, :]  # (..., 8, 3)
    return np.einsum("...ij,...kj->...ki", srt[..., :3, :3], local) + srt[..., None, :3, 3]


def _extents(corners: np.ndarray, variant: IouVariant) -> tuple[np.ndarray, np.ndarray]:
    if variant == "corrected":
        axis = -2  # over the 8 corners: per camera coordinate
    elif variant == "legacy":
        axis = -1  # over x, y, z of each corner: the NOCS axis bug
    else:
        raise ValueError(f"unknown IoU variant {variant!r}; use one of {IOU_VARIANTS}")
    return corners.min(axis=axis), corners.max(axis=axis)


def corners_iou(corners_a: np.ndarray, corners_b: np.ndarray, variant: IouVariant = "corrected") -> np.ndarray:
    """IoU of the axis-aligned extents of two corner sets (..., 8, 3) (broadcast)."""
    lo_a, hi_a = _extents(corners_a, variant)
    lo_b, hi_b = _extents(corners_b, variant)
    overlap = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0.0, None)
    inter = np.prod(overlap, axis=-1)
    union = np.prod(hi_a - lo_a, axis=-1) + np.prod(hi_b - lo_b, axis=-1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def iou_3d(srt_est: np.ndarray, srt_gt: np.ndarray, scales_est: np.ndarray, scales_gt: np.ndarray,
           variant: IouVariant = "corrected", symmetric: bool = False) -> float:
    """3D IoU in [0, 1] of one predicted and one ground-truth box (see module docstring)."""
    return float(pairwise_iou_3d(np.asarray(srt_est)[None], np.asarray(srt_gt)[None],
                                 np.asarray(scales_est)[None], np.asarray(scales_gt)[None],
                                 np.array([symmetric]), variant)[0, 0])


def pairwise_iou_3d(pred_srts: np.ndarray, gt_srts: np.ndarray, pred_scales: np.ndarray, gt_scales: np.ndarray,
                    gt_symmetric: np.ndarray, variant: IouVariant = "corrected") -> np.ndarray:
    """IoU table (P, G) of predictions (P, 4, 4)/(P, 3) against ground truths (G, 4, 4)/(G, 3).

    gt_symmetric (G,) bool selects the max over 20 rotations of the prediction about its y axis.
    A NaN pose gives NaN (never a match). Symmetric pairs with NaN at every rotation stay NaN.
    """
    pred_srts = np.asarray(pred_srts, dtype=np.float64).reshape(-1, 4, 4)
    gt_srts = np.asarray(gt_srts, dtype=np.float64).reshape(-1, 4, 4)
    pred_scales = np.asarray(pred_scales, dtype=np.float64).reshape(-1, 3)
    gt_scales = np.asarray(gt_scales, dtype=np.float64).reshape(-1, 3)
    gt_symmetric = np.asarray(gt_symmetric, dtype=bool).reshape(-1)
    n_pred, n_gt = len(pred_srts), len(gt_srts)
    if n_pred == 0 or n_gt == 0:
        return np.zeros((n_pred, n_gt))
    gt_corners = box_corners_camera(gt_srts, gt_scales)  # (G, 8, 3)
    direct = corners_iou(box_corners_camera(pred_srts, pred_scales)[:, None], gt_corners[None], variant)
    if not gt_symmetric.any():
        return direct
    rotated = pred_srts[:, None] @ _Y_ROTATIONS[None]  # (P, 20, 4, 4): rotate in the object frame
    rot_corners = box_corners_camera(rotated, pred_scales[:, None])  # (P, 20, 8, 3)
    per_rotation = corners_iou(rot_corners[:, :, None], gt_corners[None, None], variant)  # (P, 20, G)
    with np.errstate(invalid="ignore"):
        all_nan = np.isnan(per_rotation).all(axis=1)
        best = np.where(all_nan, np.nan, np.nanmax(np.where(np.isnan(per_rotation), -np.inf, per_rotation), axis=1))
    return np.where(gt_symmetric[None, :], best, direct)
