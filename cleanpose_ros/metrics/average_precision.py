"""All-point interpolated average precision (VOC 2010+ style, as in the NOCS evaluation).

Predictions are ranked by score (high to low, ties in input order); precision and recall are
taken after every prediction; the precision envelope (max precision at any higher recall) is
integrated over recall from 0 to the final recall, precision 0 beyond it.
"""
from __future__ import annotations

import numpy as np

from .matching import score_order


def average_precision(is_true_positive: np.ndarray, scores: np.ndarray, num_gt: int) -> np.ndarray:
    """AP in [0, 1] for every leading index of is_true_positive (..., N) sharing scores (N,).

    num_gt: number of ground truths the recall is measured against. With num_gt == 0 the AP
    is undefined and NaN is returned (the caller decides how to report it); with num_gt > 0 and
    no predictions it is 0.
    """
    tp = np.asarray(is_true_positive, dtype=bool)
    lead = tp.shape[:-1]
    if num_gt <= 0:
        return np.full(lead, np.nan)
    n = tp.shape[-1]
    if n == 0:
        return np.zeros(lead)
    tp = tp[..., score_order(scores)]
    cum_tp = np.cumsum(tp, axis=-1, dtype=np.float64)
    precision = cum_tp / np.arange(1, n + 1)
    recall = cum_tp / num_gt
    pad0 = np.zeros(lead + (1,))
    precision = np.concatenate([pad0, precision, pad0], axis=-1)
    recall = np.concatenate([pad0, recall, np.ones(lead + (1,))], axis=-1)
    envelope = np.flip(np.maximum.accumulate(np.flip(precision, axis=-1), axis=-1), axis=-1)
    # Steps where recall does not change contribute 0, so no index selection is needed.
    return np.sum((recall[..., 1:] - recall[..., :-1]) * envelope[..., 1:], axis=-1)
