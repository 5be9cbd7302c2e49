"""All-point interpolated average precision (VOC 2010+ style, as in the NOCS evaluation), with an
explicit rule for tied scores.

Predictions are ranked by score (high to low); precision and recall are taken after every
prediction; the precision envelope (max precision at any higher recall) is integrated over recall
from 0 to the final recall, precision 0 beyond it.

Ties matter: with ground-truth masks every score is 1.0, and the AP then depends on the order the
predictions happen to be in. Three rules (`TieOrder`):
- "expected" (default): the mean AP over orders of the tied predictions drawn uniformly. Exact (every
  order enumerated) when the tie groups admit at most `permutations` orders in all, otherwise the
  mean over `permutations` seeded random tie-breaks; without ties it is the one AP there is.
- "reference": the order of the NOCS / AG-Pose code, `np.argsort(scores)[::-1]` (a reversed,
  unstable argsort), for comparison with published numbers.
- "input": ties keep their input (file) order; this project's rule before the tie handling.
"""
from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np

from .matching import score_order

TieOrder = Literal["expected", "reference", "input"]
TIE_ORDERS: tuple[str, ...] = ("expected", "reference", "input")
DEFAULT_PERMUTATIONS = 1000
#: orders evaluated at once (bounds the memory of the (..., orders, N) arrays)
_CHUNK = 64


def ranking(scores: np.ndarray, tie_order: TieOrder = "input") -> np.ndarray:
    """One order of the predictions from high to low score, with ties broken by `tie_order`
    ("expected" has no single order; it is refused here)."""
    if tie_order == "input":
        return score_order(scores)
    if tie_order == "reference":
        return np.argsort(np.asarray(scores))[::-1]
    raise ValueError(f"ranking() takes 'input' or 'reference', got {tie_order!r}")


def tie_break_orders(scores: np.ndarray, permutations: int = DEFAULT_PERMUTATIONS,
                     seed: int = 0) -> tuple[np.ndarray, bool]:
    """Orders (P, N) of the predictions by descending score whose tied runs are permuted uniformly,
    and whether they are exhaustive (every distinct order of the tie groups once) or sampled."""
    s = np.asarray(scores, dtype=np.float64)
    base = score_order(s)
    sorted_scores = s[base]
    # runs of equal scores in the sorted order (NaN compares unequal to itself: each NaN its own run)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(s)]))
    tied = [(a, b) for a, b in bounds if b - a > 1]
    if not tied:
        return base[None, :], True
    count = 1
    for a, b in tied:
        count *= math.factorial(int(b - a))
        if count > permutations:
            break
    if count <= permutations:
        orders = [base]
        for a, b in tied:
            grown = []
            for order in orders:
                for perm in itertools.permutations(range(a, b)):
                    o = order.copy()
                    o[a:b] = base[list(perm)]
                    grown.append(o)
            orders = grown
        return np.stack(orders), True
    rng = np.random.default_rng(seed)
    keys = rng.random((permutations, len(s)))
    # sort by (score descending, random key): lexsort's last key is the primary one
    orders = np.lexsort((keys, np.broadcast_to(-np.nan_to_num(s, nan=np.inf), keys.shape)), axis=-1)
    return orders, False


def _ap_of_ordered(tp: np.ndarray, num_gt: int) -> np.ndarray:
    """AP over the last axis of tp, already in rank order."""
    lead, n = tp.shape[:-1], tp.shape[-1]
    cum_tp = np.cumsum(tp, axis=-1, dtype=np.float64)
    precision = cum_tp / np.arange(1, n + 1)
    recall = cum_tp / num_gt
    pad0 = np.zeros(lead + (1,))
    precision = np.concatenate([pad0, precision, pad0], axis=-1)
    recall = np.concatenate([pad0, recall, np.ones(lead + (1,))], axis=-1)
    envelope = np.flip(np.maximum.accumulate(np.flip(precision, axis=-1), axis=-1), axis=-1)
    # Steps where recall does not change contribute 0, so no index selection is needed.
    return np.sum((recall[..., 1:] - recall[..., :-1]) * envelope[..., 1:], axis=-1)


def average_precision(is_true_positive: np.ndarray, scores: np.ndarray, num_gt: int,
                      tie_order: TieOrder = "expected", permutations: int = DEFAULT_PERMUTATIONS,
                      seed: int = 0) -> np.ndarray:
    """AP in [0, 1] for every leading index of is_true_positive (..., N) sharing scores (N,).

    num_gt: number of ground truths the recall is measured against. With num_gt == 0 the AP
    is undefined and NaN is returned (the caller decides how to report it); with num_gt > 0 and
    no predictions it is 0. `tie_order`, `permutations`, `seed`: see the module docstring.
    """
    tp = np.asarray(is_true_positive, dtype=bool)
    lead = tp.shape[:-1]
    if num_gt <= 0:
        return np.full(lead, np.nan)
    if tp.shape[-1] == 0:
        return np.zeros(lead)
    if tie_order != "expected":
        return _ap_of_ordered(tp[..., ranking(scores, tie_order)], num_gt)
    orders, _ = tie_break_orders(scores, permutations, seed)
    total = np.zeros(lead)
    for c in range(0, len(orders), _CHUNK):
        chunk = orders[c:c + _CHUNK]  # (p, N)
        total += _ap_of_ordered(tp[..., chunk], num_gt).sum(-1)  # tp[..., chunk]: lead + (p, N)
    return total / len(orders)
