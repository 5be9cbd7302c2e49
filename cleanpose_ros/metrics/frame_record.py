"""The per-frame evaluation input: ground truth and predictions of one image (pure numpy).

Mirrors the NOCS `results_*.pkl` evaluation keys, except that class ids are 0-based indices into
the evaluated category list (NOCS class id = index + 1):

  gt_class_ids (N,) int | gt_srts (N, 4, 4) [[s R, t], [0, 1]], s = metric box diagonal (m) |
  gt_scales (N, 3) box extents / diagonal (normalised, diagonal 1) | gt_handle_visible (N,) bool |
  pred_class_ids (M,) int | pred_scores (M,) | pred_srts (M, 4, 4) | pred_scales (M, 3)

Metric box extents are therefore scale * scales = ||size|| * size / ||size|| = size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.types import CATEGORIES, PoseEstimate, category_index


def srt_and_normalised_size(rotation: np.ndarray, translation: np.ndarray, size_m: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(R, t, metric size) -> (4x4 [[||size|| R, t], [0, 1]], size / ||size||)."""
    size = np.asarray(size_m, dtype=np.float64).reshape(3)
    diagonal = float(np.linalg.norm(size))
    srt = np.eye(4)
    srt[:3, :3] = diagonal * np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    srt[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    with np.errstate(divide="ignore", invalid="ignore"):
        return srt, size / diagonal


def _as(arr: object, dtype: type, shape_tail: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(arr, dtype=dtype)
    if a.size == 0:
        return a.reshape((0,) + shape_tail)
    return a.reshape((-1,) + shape_tail)


@dataclass(frozen=True, eq=False)
class FrameRecord:
    """Ground truth and predictions of one frame, in the evaluation's array form."""

    frame_id: str
    gt_class_ids: np.ndarray
    gt_srts: np.ndarray
    gt_scales: np.ndarray
    gt_handle_visible: np.ndarray
    pred_class_ids: np.ndarray
    pred_scores: np.ndarray
    pred_srts: np.ndarray
    pred_scales: np.ndarray
    #: Optional bookkeeping (not used by the metrics): mask ids and refused instances.
    gt_instance_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pred_instance_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rejected: tuple[tuple[int, str], ...] = ()
    #: Optional: the system's confidence per prediction (NaN = none) and the agreement features it
    #: came from (core/confidence.py), for calibration and the confidence metrics (metrics/confidence.py).
    pred_confidences: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    pred_features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float64))

    def __post_init__(self) -> None:
        conv = {
            "gt_class_ids": (np.int64, ()), "gt_srts": (np.float64, (4, 4)), "gt_scales": (np.float64, (3,)),
            "gt_handle_visible": (bool, ()), "pred_class_ids": (np.int64, ()), "pred_scores": (np.float64, ()),
            "pred_srts": (np.float64, (4, 4)), "pred_scales": (np.float64, (3,)),
            "gt_instance_ids": (np.int64, ()), "pred_instance_ids": (np.int64, ()),
            "pred_confidences": (np.float64, ()),
        }
        for name, (dtype, tail) in conv.items():
            object.__setattr__(self, name, _as(getattr(self, name), dtype, tail))
        object.__setattr__(self, "rejected", tuple((int(i), str(r)) for i, r in self.rejected))
        n_gt = {len(self.gt_class_ids), len(self.gt_srts), len(self.gt_scales), len(self.gt_handle_visible)}
        n_pred = {len(self.pred_class_ids), len(self.pred_scores), len(self.pred_srts), len(self.pred_scales)}
        if len(n_gt) != 1:
            raise ValueError(f"frame {self.frame_id}: ground-truth arrays disagree on the count: {n_gt}")
        if len(n_pred) != 1:
            raise ValueError(f"frame {self.frame_id}: prediction arrays disagree on the count: {n_pred}")
        if len(self.gt_instance_ids) not in (0, len(self.gt_class_ids)):
            raise ValueError(f"frame {self.frame_id}: gt_instance_ids has the wrong length")
        if len(self.pred_instance_ids) not in (0, len(self.pred_class_ids)):
            raise ValueError(f"frame {self.frame_id}: pred_instance_ids has the wrong length")
        if len(self.pred_confidences) not in (0, len(self.pred_class_ids)):
            raise ValueError(f"frame {self.frame_id}: pred_confidences has the wrong length")
        features = np.asarray(self.pred_features, dtype=np.float64)
        if features.size == 0:
            features = np.zeros((0, 0), dtype=np.float64)
        elif features.ndim != 2 or len(features) != len(self.pred_class_ids):
            raise ValueError(f"frame {self.frame_id}: pred_features must be (num_pred, F), got {features.shape}")
        object.__setattr__(self, "pred_features", features)

    @property
    def num_gt(self) -> int:
        return len(self.gt_class_ids)

    @property
    def num_pred(self) -> int:
        return len(self.pred_class_ids)

    @classmethod
    def from_metric(cls, frame_id: str,
                    gt_categories: Sequence[str], gt_rotations: Sequence[np.ndarray],
                    gt_translations: Sequence[np.ndarray], gt_sizes_m: Sequence[np.ndarray],
                    gt_handle_visible: Sequence[bool], poses: Sequence[PoseEstimate],
                    categories: Sequence[str] = CATEGORIES, gt_instance_ids: Sequence[int] = (),
                    rejected: Sequence[tuple[int, str]] = ()) -> "FrameRecord":
        """Build a record from metric ground truth (R, t, size in m) and the pipeline's poses."""
        gt = [srt_and_normalised_size(r, t, s) for r, t, s in zip(gt_rotations, gt_translations, gt_sizes_m)]
        pred = [srt_and_normalised_size(p.rotation, p.translation, p.size) for p in poses]
        return cls(
            frame_id=str(frame_id),
            gt_class_ids=[category_index(c, categories) for c in gt_categories],
            gt_srts=[g[0] for g in gt], gt_scales=[g[1] for g in gt],
            gt_handle_visible=list(gt_handle_visible),
            pred_class_ids=[category_index(p.category, categories) for p in poses],
            pred_scores=[p.score for p in poses],
            pred_srts=[p_[0] for p_ in pred], pred_scales=[p_[1] for p_ in pred],
            gt_instance_ids=list(gt_instance_ids), pred_instance_ids=[p.instance_id for p in poses],
            rejected=tuple(rejected),
            pred_confidences=([np.nan if p.confidence is None else p.confidence for p in poses]
                              if any(p.confidence is not None for p in poses) else []),
            pred_features=([list(p.features) for p in poses]
                           if poses and len({len(p.features) for p in poses}) == 1 and poses[0].features else []),
        )
