"""Greedy prediction-to-ground-truth matching of the NOCS protocol, for many thresholds at once.

Predictions are visited in descending score order (ties keep input order). Each takes the
best still-free ground truth that passes the threshold:
- by IoU: ground truths ordered by descending IoU; a pair needs IoU strictly greater than the
  threshold (as in NOCS `compute_3d_matches`);
- by pose: ground truths ordered by ascending (rotation error + translation error); a pair needs
  rotation error <= degree threshold AND translation error <= cm threshold (NOCS
  `compute_match_from_degree_cm`).
NaN values (IoU or errors) never pass a threshold and sort last. The greedy loop runs once per
(prediction, ground truth) pair with every threshold handled as a numpy array axis; the literal
per-threshold loops live in metrics/reference.py and are checked for parity in the tests.

Results use NOCS's encoding: pred_match[..., i] = index of the matched ground truth or -1,
gt_match[..., j] = index of the matched prediction (in score order) or -1.
"""
from __future__ import annotations

import numpy as np


def score_order(scores: np.ndarray) -> np.ndarray:
    """Indices that sort scores from high to low; ties keep their input order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def _descending_nan_last(values: np.ndarray) -> np.ndarray:
    keyed = np.where(np.isnan(values), np.inf, -values)
    return np.argsort(keyed, kind="stable")


def _ascending_nan_last(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")


def _greedy(passes: np.ndarray, gt_orders: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """passes (..., P, G) bool: pair allowed at each threshold; gt_orders[i]: visiting order for i."""
    lead = passes.shape[:-2]
    n_pred, n_gt = passes.shape[-2:]
    pred_match = np.full(lead + (n_pred,), -1, dtype=np.int64)
    gt_match = np.full(lead + (n_gt,), -1, dtype=np.int64)
    for i in range(n_pred):
        for j in gt_orders[i]:
            take = passes[..., i, j] & (gt_match[..., j] < 0) & (pred_match[..., i] < 0)
            gt_match[..., j] = np.where(take, i, gt_match[..., j])
            pred_match[..., i] = np.where(take, j, pred_match[..., i])
    return pred_match, gt_match


def match_by_iou(iou: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching at every IoU threshold.

    iou (P, G) with predictions already in descending score order; thresholds (T,).
    Returns pred_match (T, P), gt_match (T, G).
    """
    iou = np.asarray(iou, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        passes = iou[None, :, :] > thresholds[:, None, None]  # NaN > x is False
    orders = [_descending_nan_last(row) for row in iou]
    return _greedy(passes, orders)


def match_by_pose(errors: np.ndarray, degree_thresholds: np.ndarray, cm_thresholds: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching at every (degree, cm) threshold pair.

    errors (P, G, 2) = (rotation deg, translation cm) with predictions in descending score order.
    Returns pred_match (D, S, P), gt_match (D, S, G).
    """
    errors = np.asarray(errors, dtype=np.float64)
    deg = np.asarray(degree_thresholds, dtype=np.float64)
    cm = np.asarray(cm_thresholds, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        rot_ok = errors[None, None, :, :, 0] <= deg[:, None, None, None]
        trans_ok = errors[None, None, :, :, 1] <= cm[None, :, None, None]
    orders = [_ascending_nan_last(row.sum(axis=-1)) for row in errors]
    return _greedy(rot_ok & trans_ok, orders)
