"""A training health signal that cannot lie: does the NOCS path carry the orientation?

For every object of a batch, a similarity transform (core.geometry.similarity_fit, Umeyama) is fitted
from the predicted keypoint NOCS coordinates to the 3D keypoints; its rotation error is reported next
to the direct pose head's. The NOCS loss can fall while the fit stays 100+ degrees off (keypoints
collapsed onto a symmetric axis, say); this shows it. Errors use the evaluation's rule: bottle, bowl,
can and handle-less mugs count only the angle between the y axes.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np
from torch import Tensor

from ..core.geometry import similarity_fit
from ..metrics.pose_errors import rotation_error_deg


def fitted_rotations(kpt_nocs: np.ndarray, kpt_cam: np.ndarray) -> np.ndarray:
    """(B, K, 3) NOCS and camera keypoints -> (B, 3, 3) rotations of the per-object similarity fits."""
    return np.stack([similarity_fit(n, c)[1] for n, c in zip(kpt_nocs, kpt_cam)])


def batch_rotation_errors(out: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    """Per-object rotation errors (degrees) of the direct head ("direct") and the NOCS fit ("fit"),
    with the objects' categories, from `CleanPose.forward_train` outputs."""
    kpt_nocs = out["kpt_nocs"].detach().double().cpu().numpy()
    kpt_cam = (out["kpt_3d"] + out["centre"].unsqueeze(1)).detach().double().cpu().numpy()
    gt = out["gt_rotation"].detach().double().cpu().numpy()
    symmetric = out["y_symmetric"].detach().cpu().numpy()
    direct = out["rotation"].detach().double().cpu().numpy()
    return {"category": out["category"].detach().cpu().numpy(),
            "direct": rotation_error_deg(direct, gt, symmetric),
            "fit": rotation_error_deg(fitted_rotations(kpt_nocs, kpt_cam), gt, symmetric)}


class HealthWindow:
    """Collects per-object errors between two log rows; `summary` gives median errors per class and
    over the non-symmetric classes (camera, laptop, mug), keyed for the metrics CSV."""

    def __init__(self, categories: Sequence[str]) -> None:
        self.categories = tuple(categories)
        self._errors: dict[tuple[str, str], list[float]] = defaultdict(list)

    def add(self, out: Mapping[str, Tensor]) -> None:
        errors = batch_rotation_errors(out)
        for i, c in enumerate(errors["category"]):
            for kind in ("direct", "fit"):
                self._errors[(self.categories[int(c)], kind)].append(float(errors[kind][i]))

    def summary(self, oriented: Sequence[str]) -> dict[str, float]:
        row: dict[str, float] = {}
        for kind in ("direct", "fit"):
            for name in self.categories:
                values = self._errors.get((name, kind))
                if values:
                    row[f"health/{kind}_rot_deg/{name}"] = float(np.nanmedian(values))
            pooled = [v for name in oriented for v in self._errors.get((name, kind), [])]
            if pooled:
                row[f"health/{kind}_rot_deg/oriented"] = float(np.nanmedian(pooled))
        self._errors.clear()
        return row
