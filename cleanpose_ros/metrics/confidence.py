"""How good a confidence is: per-object labels (within 10 deg / 5 cm), AUROC, reliability and
risk-coverage, from evaluation records (pure numpy + scipy; plots with matplotlib on request).

Objects are paired with their ground truth by instance id, which is exact when the evaluation ran
on ground-truth masks (a prediction's instance id is its mask id); records without instance ids
contribute nothing. The label is the NOCS 10deg5cm criterion: symmetry-aware rotation error
(metrics/pose_errors.py) <= 10 deg and centre error <= 5 cm.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..core.types import CATEGORIES, SYMMETRIC_CATEGORIES
from .frame_record import FrameRecord
from .pose_errors import rotation_error_deg, split_srt, translation_error_cm, uses_y_symmetry
from .report import save_figure

ROTATION_LIMIT_DEG = 10.0
TRANSLATION_LIMIT_CM = 5.0


@dataclass(frozen=True)
class ConfidencePairs:
    """One row per prediction paired with its ground truth."""

    categories: np.ndarray  # (P,) category names
    confidences: np.ndarray  # (P,) NaN where the record had none
    features: np.ndarray  # (P, F) or (P, 0)
    rotation_deg: np.ndarray
    translation_cm: np.ndarray
    #: (P, 3) rotation error R_gt^T R_est as a rotation vector in the object frame (rad); for bottle,
    #: bowl and can only the tilt of the y axis (y component 0: rotation about it is free)
    rotation_vector: np.ndarray | None = None
    translation_vector: np.ndarray | None = None  # (P, 3) t_est - t_gt, metres, camera frame

    @property
    def within(self) -> np.ndarray:
        return (self.rotation_deg <= ROTATION_LIMIT_DEG) & (self.translation_cm <= TRANSLATION_LIMIT_CM)

    def __len__(self) -> int:
        return len(self.categories)


def pair_by_instance_id(records: Iterable[FrameRecord], categories: Sequence[str] = CATEGORIES) -> ConfidencePairs:
    from scipy.spatial.transform import Rotation

    cats, conf, feats, rot, tra, rotvec, travec = [], [], [], [], [], [], []
    for r in records:
        if not len(r.pred_instance_ids) or not len(r.gt_instance_ids):
            continue
        gt_index = {int(i): k for k, i in enumerate(r.gt_instance_ids)}
        for j, iid in enumerate(r.pred_instance_ids):
            k = gt_index.get(int(iid))
            if k is None or r.pred_class_ids[j] != r.gt_class_ids[k]:
                continue
            name = categories[int(r.gt_class_ids[k])]
            r_est, t_est, _ = split_srt(r.pred_srts[j])
            r_gt, t_gt, _ = split_srt(r.gt_srts[k])
            rot.append(float(rotation_error_deg(r_est, r_gt, uses_y_symmetry(name, bool(r.gt_handle_visible[k])))))
            tra.append(float(translation_error_cm(t_est, t_gt)))
            travec.append(t_est - t_gt)
            if name in SYMMETRIC_CATEGORIES:  # the tilt taking the true up axis onto the estimated one
                up = r_gt.T @ r_est[:, 1]
                rotvec.append(Rotation.align_vectors(up[None], np.array([[0.0, 1.0, 0.0]]))[0].as_rotvec())
            else:
                rotvec.append(Rotation.from_matrix(r_gt.T @ r_est).as_rotvec())
            cats.append(name)
            conf.append(float(r.pred_confidences[j]) if len(r.pred_confidences) else np.nan)
            feats.append(r.pred_features[j] if r.pred_features.size else np.zeros(0))
    width = {len(f) for f in feats}
    features = np.array(feats, np.float64) if len(width) == 1 and width != {0} else np.zeros((len(cats), 0))
    return ConfidencePairs(np.array(cats, dtype=object), np.array(conf, np.float64), features,
                           np.array(rot, np.float64), np.array(tra, np.float64),
                           np.array(rotvec, np.float64).reshape(-1, 3), np.array(travec, np.float64).reshape(-1, 3))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > that of a random negative), ties
    counted one half (Mann-Whitney with mid-ranks); NaN when either class is empty."""
    from scipy.stats import rankdata

    y = np.asarray(labels, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def reliability(labels: np.ndarray, confidences: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width confidence bins: mean confidence, observed rate of `labels`, count (empty bins left out)."""
    y = np.asarray(labels, np.float64)
    c = np.asarray(confidences, np.float64)
    index = np.minimum((c * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        sel = index == b
        if sel.any():
            rows.append({"low": b / bins, "high": (b + 1) / bins, "confidence": float(c[sel].mean()),
                         "observed": float(y[sel].mean()), "count": int(sel.sum())})
    return rows


def expected_calibration_error(labels: np.ndarray, confidences: np.ndarray, bins: int = 10) -> float:
    rows = reliability(labels, confidences, bins)
    n = sum(r["count"] for r in rows)
    return float(sum(r["count"] * abs(r["confidence"] - r["observed"]) for r in rows) / n) if n else float("nan")


def risk_coverage(labels: np.ndarray, confidences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, accuracy among the covered): keep the x % most confident objects, how many of them
    are within the thresholds. Ties in confidence are broken by input order (stable sort), so the curve
    does not depend on the sort algorithm."""
    y = np.asarray(labels, np.float64)
    order = np.argsort(-np.asarray(confidences, np.float64), kind="stable")
    kept = np.arange(1, len(y) + 1)
    return kept / len(y), np.cumsum(y[order]) / kept


def summarise(pairs: ConfidencePairs, categories: Sequence[str] = CATEGORIES) -> dict[str, Any]:
    """AUROC (all objects and per category), ECE, and 10deg5cm of the top 25 / 50 / 75 % most confident."""
    have = np.isfinite(pairs.confidences)
    y, c = pairs.within[have], pairs.confidences[have]
    out: dict[str, Any] = {"objects": int(have.sum()), "within_10deg5cm": float(y.mean()) if len(y) else float("nan"),
                           "auroc": auroc(y, c), "ece": expected_calibration_error(y, c) if len(y) else float("nan"),
                           "per_category": {}}
    cats = pairs.categories[have]
    for name in categories:
        sel = cats == name
        if sel.any():
            out["per_category"][name] = {"objects": int(sel.sum()), "within_10deg5cm": float(y[sel].mean()),
                                         "auroc": auroc(y[sel], c[sel])}
    if len(y):
        coverage, accuracy = risk_coverage(y, c)
        out["top_fraction_within"] = {f"{q:.2f}": float(accuracy[max(int(np.ceil(q * len(y))) - 1, 0)])
                                      for q in (0.25, 0.5, 0.75, 1.0)}
        out["reliability"] = reliability(y, c)
    return out


def plot_confidence(pairs: ConfidencePairs, out_dir: str | os.PathLike, title: str = "") -> list[Path]:
    """reliability.png (confidence vs observed 10deg5cm rate per bin) and risk_coverage.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    have = np.isfinite(pairs.confidences)
    y, c = pairs.within[have], pairs.confidences[have]
    paths = []
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    rows = reliability(y, c)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    ax.plot([r["confidence"] for r in rows], [r["observed"] for r in rows], "o-", label="measured")
    for r in rows:
        ax.annotate(str(r["count"]), (r["confidence"], r["observed"]), textcoords="offset points", xytext=(4, -10),
                    fontsize=7)
    ax.set(xlabel="confidence", ylabel="observed fraction within 10 deg / 5 cm", xlim=(0, 1), ylim=(0, 1.02),
           title=f"reliability {title}".strip())
    ax.legend(loc="upper left", fontsize=8)
    paths.append(save_figure(fig, out / "reliability.png", plt))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    coverage, accuracy = risk_coverage(y, c)
    ax.plot(100 * coverage, 100 * accuracy, label=f"all ({len(y)})")
    cats = pairs.categories[have]
    for name in sorted(set(cats)):
        sel = cats == name
        cov, acc = risk_coverage(y[sel], c[sel])
        ax.plot(100 * cov, 100 * acc, lw=1, label=f"{name} ({int(sel.sum())})")
    ax.set(xlabel="most confident objects kept (%)", ylabel="within 10 deg / 5 cm (%)", ylim=(0, 101),
           title=f"risk-coverage {title}".strip())
    ax.legend(fontsize=7, ncol=2)
    paths.append(save_figure(fig, out / "risk_coverage.png", plt))
    return paths


__all__ = ["ConfidencePairs", "auroc", "expected_calibration_error", "pair_by_instance_id", "plot_confidence",
           "reliability", "risk_coverage", "summarise"]
