"""NOCS-protocol evaluator with a reset / process / evaluate interface (pure numpy).

Per frame and class, predictions are matched greedily to ground truth at every IoU threshold
(both IoU variants, see iou3d.py). Pose metrics follow the NOCS protocol exactly: only the
predictions and ground truths matched at IoU `iou_for_pose` (0.1) take part; among those,
predictions are re-matched by (rotation, translation) error at every degree / cm threshold and
the recall is measured against the number of ground truths matched at IoU 0.1. Average precision
is then computed per class over all frames (average_precision.py).

Explicit edge-case rules (the reference code yields NaN or silently miscounts):
- a class without any ground truth has AP = NaN; it is excluded from the class mean and listed
  under "classes_without_gt"; its predictions are counted under "num_pred";
- a class with ground truth but no pair matched at IoU 0.1 has pose AP 0 (NOCS: NaN);
- NaN IoUs or pose errors never pass a threshold; matched pairs with a NaN error are counted in
  "num_nan_errors" and left out of the mean errors.

Tied scores (every score is 1.0 with ground-truth masks): `tie_order` (average_precision.py) decides.
"expected" (default) reports the AP expected over orders of the tied predictions, so no number depends
on the order frames are read; "reference" reproduces the NOCS code's reversed argsort, both inside a
frame (the matching order) and across frames (the AP ranking); "input" keeps file order. Inside a frame
"expected" and "input" match tied predictions in input order. The result says which rule was used.

All APs in the result are percentages (0..100).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..core.types import CATEGORIES
from .average_precision import DEFAULT_PERMUTATIONS, TIE_ORDERS, TieOrder, average_precision, ranking
from .frame_record import FrameRecord
from .iou3d import IOU_VARIANTS, IouVariant, pairwise_iou_3d
from .matching import match_by_iou, match_by_pose
from .pose_errors import pairwise_pose_errors, size_error_cm, split_srt, uses_y_symmetry

logger = logging.getLogger(__name__)

#: Sentinel thresholds meaning "no limit" (the values NOCS appends): used for the rotation-only
#: and translation-only curves.
NO_ROTATION_LIMIT_DEG = 360.0
NO_TRANSLATION_LIMIT_CM = 100.0

#: Summary metrics reported in the table: IoU AP at one IoU threshold, pose AP at (degrees, cm).
IOU_METRICS: dict[str, float] = {"IoU25": 0.25, "IoU50": 0.50, "IoU75": 0.75}
POSE_METRICS: dict[str, tuple[float, float]] = {
    "5deg2cm": (5.0, 2.0), "5deg5cm": (5.0, 5.0), "10deg2cm": (10.0, 2.0), "10deg5cm": (10.0, 5.0),
}


@dataclass(frozen=True)
class EvaluationThresholds:
    """Threshold grids of the NOCS curves (defaults = NOCS: IoU 0..1 step 0.01, 0..60 deg step 1,
    0..10 cm step 0.5, plus the no-limit sentinels)."""

    iou: tuple[float, ...] = tuple(i / 100 for i in range(101))
    rotation_deg: tuple[float, ...] = tuple(float(d) for d in range(61)) + (NO_ROTATION_LIMIT_DEG,)
    translation_cm: tuple[float, ...] = tuple(i / 2 for i in range(21)) + (NO_TRANSLATION_LIMIT_CM,)
    iou_for_pose: float = 0.1

    def __post_init__(self) -> None:
        needed = [(self.iou, self.iou_for_pose, "iou")] + [(self.iou, v, "iou") for v in IOU_METRICS.values()]
        needed += [(self.rotation_deg, d, "rotation_deg") for d, _ in POSE_METRICS.values()]
        needed += [(self.translation_cm, c, "translation_cm") for _, c in POSE_METRICS.values()]
        needed += [(self.rotation_deg, NO_ROTATION_LIMIT_DEG, "rotation_deg"),
                   (self.translation_cm, NO_TRANSLATION_LIMIT_CM, "translation_cm")]
        for grid, value, name in needed:
            if value not in grid:
                raise ValueError(f"threshold grid {name} must contain {value}")

    def index(self, grid: Sequence[float], value: float) -> int:
        return list(grid).index(value)


class _ClassAccumulator:
    """Match flags and scores of one class and one IoU variant, gathered over frames."""

    def __init__(self) -> None:
        self.iou_tp: list[np.ndarray] = []  # (T, P) per frame
        self.iou_scores: list[np.ndarray] = []
        self.num_gt = 0
        self.num_pred = 0
        self.pose_tp: list[np.ndarray] = []  # (D, S, P') per frame
        self.pose_scores: list[np.ndarray] = []
        self.pose_num_gt = 0
        self.pair_errors: list[np.ndarray] = []  # (K, 3): rotation deg, translation cm, size cm


class NocsEvaluator:
    """Accumulates FrameRecords and computes the NOCS metrics.

    evaluator.reset(); for r in records: evaluator.process(r); metrics = evaluator.evaluate()
    """

    def __init__(self, categories: Sequence[str] = CATEGORIES,
                 thresholds: EvaluationThresholds | None = None,
                 iou_variants: Sequence[IouVariant] = IOU_VARIANTS, tie_order: TieOrder = "expected",
                 tie_permutations: int = DEFAULT_PERMUTATIONS, tie_seed: int = 0) -> None:
        if tie_order not in TIE_ORDERS:
            raise ValueError(f"unknown tie_order {tie_order!r}; use one of {TIE_ORDERS}")
        self.tie_order: TieOrder = tie_order
        self.tie_permutations = int(tie_permutations)
        self.tie_seed = int(tie_seed)
        self.categories = tuple(categories)
        self.thresholds = thresholds or EvaluationThresholds()
        self.iou_variants = tuple(iou_variants)
        for v in self.iou_variants:
            if v not in IOU_VARIANTS:
                raise ValueError(f"unknown IoU variant {v!r}; use one of {IOU_VARIANTS}")
        self._iou = np.asarray(self.thresholds.iou)
        self._deg = np.asarray(self.thresholds.rotation_deg)
        self._cm = np.asarray(self.thresholds.translation_cm)
        self._pose_iou_index = self.thresholds.index(self.thresholds.iou, self.thresholds.iou_for_pose)
        self.reset()

    def reset(self) -> None:
        self._acc = {v: [_ClassAccumulator() for _ in self.categories] for v in self.iou_variants}
        self._frame_ids: list[str] = []
        self._num_rejected = 0
        self._non_finite_predictions = 0

    @property
    def num_frames(self) -> int:
        return len(self._frame_ids)

    def process(self, record: FrameRecord) -> None:
        """Add one frame."""
        n_cls = len(self.categories)
        for name, ids in (("gt_class_ids", record.gt_class_ids), ("pred_class_ids", record.pred_class_ids)):
            if ids.size and (ids.min() < 0 or ids.max() >= n_cls):
                raise ValueError(f"frame {record.frame_id}: {name} {ids.tolist()} outside 0..{n_cls - 1}")
        self._frame_ids.append(record.frame_id)
        self._num_rejected += len(record.rejected)
        finite = np.isfinite(record.pred_srts).all(axis=(1, 2)) & np.isfinite(record.pred_scales).all(axis=1)
        self._non_finite_predictions += int((~finite).sum())
        for cls in range(n_cls):
            gt_sel = np.flatnonzero(record.gt_class_ids == cls)
            pred_sel = np.flatnonzero(record.pred_class_ids == cls)
            if gt_sel.size == 0 and pred_sel.size == 0:
                continue
            within = "reference" if self.tie_order == "reference" else "input"
            pred_sel = pred_sel[ranking(record.pred_scores[pred_sel], within)]
            symmetric = np.array([uses_y_symmetry(self.categories[cls], record.gt_handle_visible[j]) for j in gt_sel],
                                 dtype=bool)
            errors = pairwise_pose_errors(record.pred_srts[pred_sel], record.gt_srts[gt_sel], symmetric)
            for variant in self.iou_variants:
                self._process_class(self._acc[variant][cls], record, gt_sel, pred_sel, symmetric, errors, variant)

    def _process_class(self, acc: _ClassAccumulator, record: FrameRecord, gt_sel: np.ndarray,
                       pred_sel: np.ndarray, symmetric: np.ndarray, errors: np.ndarray,
                       variant: IouVariant) -> None:
        iou = pairwise_iou_3d(record.pred_srts[pred_sel], record.gt_srts[gt_sel], record.pred_scales[pred_sel],
                              record.gt_scales[gt_sel], symmetric, variant)
        pred_match, gt_match = match_by_iou(iou, self._iou)
        scores = record.pred_scores[pred_sel]
        acc.iou_tp.append(pred_match >= 0)
        acc.iou_scores.append(scores)
        acc.num_gt += gt_sel.size
        acc.num_pred += pred_sel.size

        # Pose metrics: only the pairs matched at IoU 0.1 take part (NOCS use_matches_for_pose).
        pose_pred = np.flatnonzero(pred_match[self._pose_iou_index] >= 0)
        pose_gt = np.flatnonzero(gt_match[self._pose_iou_index] >= 0)
        sub_errors = errors[np.ix_(pose_pred, pose_gt)]
        pose_pred_match, _ = match_by_pose(sub_errors, self._deg, self._cm)
        acc.pose_tp.append(pose_pred_match >= 0)
        acc.pose_scores.append(scores[pose_pred])
        acc.pose_num_gt += pose_gt.size

        matched_gt = pred_match[self._pose_iou_index, pose_pred]
        if pose_pred.size:
            p, g = pred_sel[pose_pred], gt_sel[matched_gt]
            size_pred = record.pred_scales[p] * split_srt(record.pred_srts[p])[2][:, None]
            size_gt = record.gt_scales[g] * split_srt(record.gt_srts[g])[2][:, None]
            acc.pair_errors.append(np.column_stack([errors[pose_pred, matched_gt], size_error_cm(size_pred, size_gt)]))

    # ------------------------------------------------------------------ results
    def evaluate(self) -> dict[str, Any]:
        """Metrics dict (JSON-friendly apart from NaN floats; report.py writes NaN as null)."""
        num_gt = {c: self._acc[self.iou_variants[0]][k].num_gt for k, c in enumerate(self.categories)}
        num_pred = {c: self._acc[self.iou_variants[0]][k].num_pred for k, c in enumerate(self.categories)}
        th = self.thresholds
        result: dict[str, Any] = {
            "protocol": "NOCS",
            "categories": list(self.categories),
            "num_frames": self.num_frames,
            "num_gt": num_gt,
            "num_pred": num_pred,
            "num_rejected_instances": self._num_rejected,
            "num_non_finite_predictions": self._non_finite_predictions,
            "classes_without_gt": [c for c in self.categories if num_gt[c] == 0],
            "thresholds": {"iou": list(th.iou), "rotation_deg": list(th.rotation_deg),
                           "translation_cm": list(th.translation_cm), "iou_for_pose": th.iou_for_pose},
            "primary_iou_variant": self.iou_variants[0],
            "ap_tie_order": self.tie_order,
            "ap_tie_rule": self.describe_tie_rule(),
            "variants": {v: self._evaluate_variant(v) for v in self.iou_variants},
        }
        if result["classes_without_gt"]:
            logger.warning("classes without ground truth (AP = NaN, left out of the mean): %s",
                           result["classes_without_gt"])
        return result

    def describe_tie_rule(self) -> str:
        if self.tie_order == "expected":
            return (f"AP expected over the orders of tied scores (exact when the ties admit <= "
                    f"{self.tie_permutations} orders, else {self.tie_permutations} seeded permutations, seed {self.tie_seed})")
        if self.tie_order == "reference":
            return "ties ordered as the NOCS reference code does (np.argsort(scores)[::-1])"
        return "ties kept in input (file) order"

    def _ap(self, tp: np.ndarray, scores: np.ndarray, num_gt: int) -> np.ndarray:
        return 100.0 * average_precision(tp, scores, num_gt, self.tie_order, self.tie_permutations, self.tie_seed)

    def _evaluate_variant(self, variant: IouVariant) -> dict[str, Any]:
        th = self.thresholds
        i_deg_free = th.index(th.rotation_deg, NO_ROTATION_LIMIT_DEG)
        i_cm_free = th.index(th.translation_cm, NO_TRANSLATION_LIMIT_CM)
        iou_ap: dict[str, np.ndarray] = {}
        pose_ap: dict[str, np.ndarray] = {}
        errors: dict[str, dict[str, float]] = {}
        for k, cls in enumerate(self.categories):
            acc = self._acc[variant][k]
            iou_ap[cls] = self._ap(_cat(acc.iou_tp, (len(th.iou), 0)), _cat(acc.iou_scores, (0,)), acc.num_gt)
            pose_tp = _cat(acc.pose_tp, (len(th.rotation_deg), len(th.translation_cm), 0))
            if acc.num_gt == 0:
                pose_ap[cls] = np.full(pose_tp.shape[:2], np.nan)
            elif acc.pose_num_gt == 0:
                pose_ap[cls] = np.zeros(pose_tp.shape[:2])  # nothing matched at IoU 0.1: nothing found
            else:
                pose_ap[cls] = self._ap(pose_tp, _cat(acc.pose_scores, (0,)), acc.pose_num_gt)
            errors[cls] = _mean_errors(np.concatenate(acc.pair_errors, axis=0) if acc.pair_errors else np.zeros((0, 3)))
        iou_ap["mean"] = _class_mean([iou_ap[c] for c in self.categories])
        pose_ap["mean"] = _class_mean([pose_ap[c] for c in self.categories])
        errors["mean"] = {key: float(_class_mean([np.asarray(errors[c][key]) for c in self.categories]))
                          for key in ("rotation_deg", "translation_cm", "size_cm", "median_rotation_deg",
                                      "median_translation_cm")}
        errors["mean"]["num_pairs"] = int(sum(errors[c]["num_pairs"] for c in self.categories))
        errors["mean"]["num_nan_errors"] = int(sum(errors[c]["num_nan_errors"] for c in self.categories))

        names = list(self.categories) + ["mean"]
        summary: dict[str, dict[str, float]] = {}
        for metric, thr in IOU_METRICS.items():
            i = th.index(th.iou, thr)
            summary[metric] = {c: float(iou_ap[c][i]) for c in names}
        for metric, (deg, cm) in POSE_METRICS.items():
            i, j = th.index(th.rotation_deg, deg), th.index(th.translation_cm, cm)
            summary[metric] = {c: float(pose_ap[c][i, j]) for c in names}
        deg_curve = [i for i, d in enumerate(th.rotation_deg) if d != NO_ROTATION_LIMIT_DEG]
        cm_curve = [j for j, c in enumerate(th.translation_cm) if c != NO_TRANSLATION_LIMIT_CM]
        return {
            "summary": summary,
            "errors": errors,
            "curves": {
                "iou": {"thresholds": list(th.iou), "ap": {c: iou_ap[c].tolist() for c in names}},
                "rotation": {"thresholds": [th.rotation_deg[i] for i in deg_curve],
                             "ap": {c: pose_ap[c][deg_curve, i_cm_free].tolist() for c in names}},
                "translation": {"thresholds": [th.translation_cm[j] for j in cm_curve],
                                "ap": {c: pose_ap[c][i_deg_free, cm_curve].tolist() for c in names}},
            },
            "pose_ap_grid": {c: pose_ap[c].tolist() for c in names},
        }


def _cat(parts: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    """Concatenate per-frame arrays along their last (prediction) axis."""
    return np.concatenate(parts, axis=-1) if parts else np.zeros(empty_shape)


def _class_mean(per_class: list[np.ndarray]) -> np.ndarray:
    """Mean over classes, ignoring NaN (classes without ground truth); NaN if all are NaN."""
    stacked = np.stack([np.asarray(a, dtype=np.float64) for a in per_class])
    valid = ~np.isnan(stacked)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(valid, stacked, 0.0).sum(axis=0) / count, np.nan)


def _mean_errors(pair_errors: np.ndarray) -> dict[str, float]:
    """Means (and medians of rotation and translation) of the finite errors of matched pairs; pairs with a
    NaN error are counted apart. For the "mean" row the medians are the mean of the class medians."""
    finite = np.isfinite(pair_errors).all(axis=1)
    good = pair_errors[finite]
    means = good.mean(axis=0) if len(good) else np.full(3, np.nan)
    medians = np.median(good, axis=0) if len(good) else np.full(3, np.nan)
    return {"rotation_deg": float(means[0]), "translation_cm": float(means[1]), "size_cm": float(means[2]),
            "median_rotation_deg": float(medians[0]), "median_translation_cm": float(medians[1]),
            "num_pairs": int(len(pair_errors)), "num_nan_errors": int((~finite).sum())}
