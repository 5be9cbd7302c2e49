"""Slow, literal implementation of the same protocol, kept only to check the fast one.

Everything here is a plain Python loop over single pairs and single thresholds, written to be
read against the protocol description in evaluator.py, matching.py, iou3d.py and
average_precision.py. The tests compare it number by number with NocsEvaluator; nothing in the
tools uses it.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

from .evaluator import EvaluationThresholds
from .frame_record import FrameRecord
from .pose_errors import uses_y_symmetry


def _corners(srt: np.ndarray, scales: np.ndarray) -> list[list[float]]:
    corners = []
    for sx, sy, sz in itertools.product((-1.0, 1.0), repeat=3):
        local = [sx * scales[0] / 2, sy * scales[1] / 2, sz * scales[2] / 2, 1.0]
        corners.append([sum(srt[r][c] * local[c] for c in range(4)) for r in range(3)])
    return corners


def reference_box_iou(srt_1: np.ndarray, srt_2: np.ndarray, scales_1: np.ndarray, scales_2: np.ndarray,
                      variant: str) -> float:
    c1, c2 = _corners(srt_1, scales_1), _corners(srt_2, scales_2)
    if variant == "corrected":  # one interval per camera axis
        iv1 = [(min(p[a] for p in c1), max(p[a] for p in c1)) for a in range(3)]
        iv2 = [(min(p[a] for p in c2), max(p[a] for p in c2)) for a in range(3)]
    else:  # legacy: one interval per corner, over its coordinates
        iv1 = [(min(p), max(p)) for p in c1]
        iv2 = [(min(p), max(p)) for p in c2]
    inter = 1.0
    for (lo1, hi1), (lo2, hi2) in zip(iv1, iv2):
        inter *= max(0.0, min(hi1, hi2) - max(lo1, lo2))
    vol1 = math.prod(hi - lo for lo, hi in iv1)
    vol2 = math.prod(hi - lo for lo, hi in iv2)
    union = vol1 + vol2 - inter
    return inter / union if union > 0 else math.nan


def reference_iou(srt_pred: np.ndarray, srt_gt: np.ndarray, scales_pred: np.ndarray, scales_gt: np.ndarray,
                  variant: str, symmetric: bool) -> float:
    if not symmetric:
        return reference_box_iou(srt_pred, srt_gt, scales_pred, scales_gt, variant)
    best = math.nan
    for k in range(20):
        a = 2 * math.pi * k / 20
        rot_y = np.array([[math.cos(a), 0, math.sin(a), 0], [0, 1, 0, 0], [-math.sin(a), 0, math.cos(a), 0],
                          [0, 0, 0, 1]])
        value = reference_box_iou(np.asarray(srt_pred) @ rot_y, srt_gt, scales_pred, scales_gt, variant)
        if not math.isnan(value) and (math.isnan(best) or value > best):
            best = value
    return best


def reference_pose_error(srt_pred: np.ndarray, srt_gt: np.ndarray, symmetric: bool) -> tuple[float, float]:
    r1 = srt_pred[:3, :3] / np.cbrt(np.linalg.det(srt_pred[:3, :3]))
    r2 = srt_gt[:3, :3] / np.cbrt(np.linalg.det(srt_gt[:3, :3]))
    if symmetric:
        y1, y2 = r1[:, 1], r2[:, 1]
        cos = float(y1 @ y2 / (np.linalg.norm(y1) * np.linalg.norm(y2)))
    else:
        cos = float((np.trace(r1 @ r2.T) - 1) / 2)
    angle = math.degrees(math.acos(min(1.0, max(-1.0, cos)))) if not math.isnan(cos) else math.nan
    shift = math.dist(srt_pred[:3, 3], srt_gt[:3, 3]) * 100
    return angle, shift


def _descending(scores: Sequence[float], rule: str) -> list[int]:
    """Indices from high to low score: "input" keeps tied scores in input order (sorted() is stable);
    "reference" is the NOCS code's literal np.argsort(scores)[::-1]."""
    if rule == "reference":
        return [int(i) for i in np.argsort(np.asarray(scores))[::-1]]
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def reference_ap(matched: Sequence[bool], scores: Sequence[float], num_gt: int, rule: str = "input") -> float:
    if num_gt == 0:
        return math.nan
    order = _descending(scores, rule)
    precisions, recalls, tp = [0.0], [0.0], 0
    for rank, i in enumerate(order, start=1):
        tp += bool(matched[i])
        precisions.append(tp / rank)
        recalls.append(tp / num_gt)
    precisions.append(0.0)
    recalls.append(1.0)
    for i in range(len(precisions) - 2, -1, -1):
        precisions[i] = max(precisions[i], precisions[i + 1])
    return sum((recalls[i] - recalls[i - 1]) * precisions[i] for i in range(1, len(recalls))
               if recalls[i] != recalls[i - 1])


def reference_evaluate(records: Sequence[FrameRecord], categories: Sequence[str],
                       thresholds: EvaluationThresholds, variant: str,
                       rule: str = "input") -> dict[str, dict[str, np.ndarray]]:
    """Per class: 'iou' AP (T,), 'pose' AP (D, S), percentages; 'errors' mean (rot, trans) of pairs.
    `rule` orders tied scores, inside frames and for the AP ("input" or "reference", see _descending)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for cls, name in enumerate(categories):
        iou_hits = {t: [] for t in range(len(thresholds.iou))}
        iou_scores: list[float] = []
        pose_hits = {(d, s): [] for d in range(len(thresholds.rotation_deg))
                     for s in range(len(thresholds.translation_cm))}
        pose_scores: list[float] = []
        num_gt = num_pose_gt = 0
        pair_errors: list[tuple[float, float]] = []
        for rec in records:
            gts = [j for j in range(rec.num_gt) if rec.gt_class_ids[j] == cls]
            preds = [i for i in range(rec.num_pred) if rec.pred_class_ids[i] == cls]
            preds = [preds[k] for k in _descending([rec.pred_scores[i] for i in preds], rule)]
            sym = {j: uses_y_symmetry(name, rec.gt_handle_visible[j]) for j in gts}
            num_gt += len(gts)
            iou = {(i, j): reference_iou(rec.pred_srts[i], rec.gt_srts[j], rec.pred_scales[i], rec.gt_scales[j],
                                         variant, sym[j]) for i in preds for j in gts}
            pose_pred_sel: list[int] = []
            pose_gt_sel: list[int] = []
            for t, thr in enumerate(thresholds.iou):
                taken: set[int] = set()
                hits = []
                for i in preds:
                    ranked = sorted(gts, key=lambda j: (math.isnan(iou[i, j]), -iou[i, j] if not
                                                        math.isnan(iou[i, j]) else 0.0))
                    match = next((j for j in ranked if j not in taken and iou[i, j] > thr), None)
                    if match is not None:
                        taken.add(match)
                    hits.append(match)
                iou_hits[t].extend(h is not None for h in hits)
                if thr == thresholds.iou_for_pose:
                    pose_pred_sel = [i for i, h in zip(preds, hits) if h is not None]
                    pose_gt_sel = [j for j in gts if j in taken]
                    pair_errors.extend(reference_pose_error(rec.pred_srts[i], rec.gt_srts[h], sym[h])
                                       for i, h in zip(preds, hits) if h is not None)
            iou_scores.extend(rec.pred_scores[i] for i in preds)
            num_pose_gt += len(pose_gt_sel)
            err = {(i, j): reference_pose_error(rec.pred_srts[i], rec.gt_srts[j], sym[j])
                   for i in pose_pred_sel for j in pose_gt_sel}
            for d, deg in enumerate(thresholds.rotation_deg):
                for s, cm in enumerate(thresholds.translation_cm):
                    taken = set()
                    for i in pose_pred_sel:
                        ranked = sorted(pose_gt_sel, key=lambda j: (math.isnan(sum(err[i, j])),
                                                                    sum(err[i, j]) if not math.isnan(sum(err[i, j]))
                                                                    else 0.0))
                        match = next((j for j in ranked if j not in taken and err[i, j][0] <= deg
                                      and err[i, j][1] <= cm), None)
                        if match is not None:
                            taken.add(match)
                        pose_hits[d, s].append(match is not None)
            pose_scores.extend(rec.pred_scores[i] for i in pose_pred_sel)
        iou_ap = np.array([reference_ap(iou_hits[t], iou_scores, num_gt, rule) for t in range(len(thresholds.iou))])
        pose_ap = np.zeros((len(thresholds.rotation_deg), len(thresholds.translation_cm)))
        for (d, s), hits in pose_hits.items():
            if num_gt == 0:
                pose_ap[d, s] = math.nan
            elif num_pose_gt == 0:
                pose_ap[d, s] = 0.0
            else:
                pose_ap[d, s] = reference_ap(hits, pose_scores, num_pose_gt, rule)
        finite = [e for e in pair_errors if not (math.isnan(e[0]) or math.isnan(e[1]))]
        mean_err = np.array([sum(e[k] for e in finite) / len(finite) if finite else math.nan for k in range(2)])
        out[name] = {"iou": 100 * iou_ap, "pose": 100 * pose_ap, "errors": mean_err}
    return out
