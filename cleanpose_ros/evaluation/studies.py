"""Numbers for the controlled studies of docs/ablation.md (pure numpy, no plotting).

* Ablation: one row of NOCS metrics per trained variant, read from each run's `metrics.json`.
* Debiasing (the paper's Fig. S2): how far the predicted yaw of the yaw-observable classes follows
  the training split's narrow yaw window instead of the uniform test yaw. For every matched
  (ground truth, prediction) pair we take the viewer-relative yaw (core.geometry) of both and
  summarise the pairs per class and model.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..core.geometry import decompose_srt, viewer_relative_yaw_deg
from ..metrics.frame_record import FrameRecord

#: Columns of the ablation table: (metrics.json summary key or error key, label)
ABLATION_AP_KEYS = ("IoU50", "IoU75", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm")
ABLATION_ERROR_KEYS = ("rotation_deg", "translation_cm", "size_cm")

#: Histogram bins of the yaw distributions (30 deg wide, as coarse as the test split allows)
YAW_BINS = np.linspace(-180.0, 180.0, 13)


def wrap_deg(angle: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to [-180, 180)."""
    return (np.asarray(angle, dtype=np.float64) + 180.0) % 360.0 - 180.0


def ablation_row(metrics: Mapping[str, Any], variant: str = "corrected", category: str = "mean") -> dict[str, float]:
    """AP (%) and mean errors of one evaluation (`cleanpose-evaluate`'s metrics.json) for one class or the mean."""
    chosen = metrics["variants"][variant]
    row = {key: float(chosen["summary"][key][category]) for key in ABLATION_AP_KEYS}
    row.update({key: float(chosen["errors"][category][key]) for key in ABLATION_ERROR_KEYS})
    return row


def load_ablation_rows(runs: Mapping[str, str | Path], category: str = "mean") -> dict[str, dict[str, float]]:
    """{variant name: ablation_row} from {variant name: evaluation folder holding metrics.json}."""
    return {name: ablation_row(json.loads((Path(folder) / "metrics.json").read_text()), category=category)
            for name, folder in runs.items()}


def orientation_row(metrics: Mapping[str, Any], classes: Sequence[str], variant: str = "corrected") -> dict[str, float]:
    """Per class of `classes`: 10deg5cm AP (%) and median rotation error (deg) of one evaluation, plus the
    class-mean 10deg5cm, 5deg2cm and mean translation error (cm): what the orientation comparisons report."""
    chosen = metrics["variants"][variant]
    row: dict[str, float] = {}
    for c in classes:
        row[f"{c} 10deg5cm"] = float(chosen["summary"]["10deg5cm"][c])
        row[f"{c} median rot"] = float(chosen["errors"][c].get("median_rotation_deg", float("nan")))
    row["mean 10deg5cm"] = float(chosen["summary"]["10deg5cm"]["mean"])
    row["mean 5deg2cm"] = float(chosen["summary"]["5deg2cm"]["mean"])
    row["mean trans cm"] = float(chosen["errors"]["mean"]["translation_cm"])
    return row


def yaw_pairs(records: Iterable[FrameRecord], class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(ground-truth yaw, predicted yaw) in degrees of every instance of one class that has both.

    Predictions are matched to ground truth by instance id (evaluation with ground-truth masks
    keeps the mask id on both sides); instances without an id match are left out."""
    gt_yaw: list[float] = []
    pred_yaw: list[float] = []
    for rec in records:
        pred_by_id = {int(i): k for k, i in enumerate(rec.pred_instance_ids)}
        for g, (cid, inst) in enumerate(zip(rec.gt_class_ids, rec.gt_instance_ids)):
            k = pred_by_id.get(int(inst))
            if int(cid) != class_index or k is None or int(rec.pred_class_ids[k]) != class_index:
                continue
            _, r_gt, t_gt = decompose_srt(rec.gt_srts[g])
            _, r_pred, t_pred = decompose_srt(rec.pred_srts[k])
            gt_yaw.append(viewer_relative_yaw_deg(r_gt, t_gt))
            pred_yaw.append(viewer_relative_yaw_deg(r_pred, t_pred))
    return np.asarray(gt_yaw), np.asarray(pred_yaw)


@dataclass(frozen=True)
class YawBias:
    """How much one model's yaw predictions lean towards the training window, for one class.

    in_window_*: share of ground truth / predictions whose yaw lies inside the training window;
    bias = in_window_pred - in_window_gt (0 = unbiased, 1 - in_window_gt = every prediction in it);
    histogram_tv: total-variation distance between the predicted and the true yaw histograms
    (30 deg bins; 0 = same distribution, 1 = disjoint); error_*: median absolute yaw error (deg)
    of all pairs, of the pairs whose true yaw lies inside the window (poses like the training ones:
    how well yaw was learned at all) and of those outside it (the unseen poses).
    """

    count: int
    in_window_gt: float
    in_window_pred: float
    bias: float
    histogram_tv: float
    error_all_deg: float
    error_inside_deg: float
    error_outside_deg: float
    count_outside: int


def _in_window(yaw: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    return (yaw >= window[0]) & (yaw <= window[1])


def yaw_bias(gt_yaw: np.ndarray, pred_yaw: np.ndarray, window: tuple[float, float]) -> YawBias:
    """Summary of the (ground truth, prediction) yaw pairs of one class; NaN yaws are dropped."""
    gt_yaw = np.asarray(gt_yaw, dtype=np.float64)
    pred_yaw = np.asarray(pred_yaw, dtype=np.float64)
    ok = np.isfinite(gt_yaw) & np.isfinite(pred_yaw)
    gt_yaw, pred_yaw = gt_yaw[ok], pred_yaw[ok]
    n = len(gt_yaw)
    if n == 0:
        nan = math.nan
        return YawBias(0, nan, nan, nan, nan, nan, nan, nan, 0)
    gt_in, pred_in = _in_window(gt_yaw, window), _in_window(pred_yaw, window)
    h_gt = np.histogram(gt_yaw, YAW_BINS)[0] / n
    h_pred = np.histogram(pred_yaw, YAW_BINS)[0] / n
    err = np.abs(wrap_deg(pred_yaw - gt_yaw))
    outside = ~gt_in
    return YawBias(count=n, in_window_gt=float(gt_in.mean()), in_window_pred=float(pred_in.mean()),
                   bias=float(pred_in.mean() - gt_in.mean()), histogram_tv=float(0.5 * np.abs(h_pred - h_gt).sum()),
                   error_all_deg=float(np.median(err)),
                   error_inside_deg=float(np.median(err[gt_in])) if gt_in.any() else math.nan,
                   error_outside_deg=float(np.median(err[outside])) if outside.any() else math.nan,
                   count_outside=int(outside.sum()))


YawPairs = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # {model: {class: (true yaw, predicted yaw)}}


def yaw_pairs_by_model(records_by_model: Mapping[str, Sequence[FrameRecord]], categories: Sequence[str],
                       classes: Sequence[str]) -> YawPairs:
    """yaw_pairs of every model and class (computed once; the table and the plot both use them)."""
    return {model: {name: yaw_pairs(records, list(categories).index(name)) for name in classes}
            for model, records in records_by_model.items()}


def debias_table(pairs: YawPairs, window: tuple[float, float]) -> dict[str, dict[str, YawBias]]:
    """{model: {class: YawBias}} from the yaw pairs of the yaw-observable classes."""
    return {model: {name: yaw_bias(gt, pred, window) for name, (gt, pred) in per_class.items()}
            for model, per_class in pairs.items()}
