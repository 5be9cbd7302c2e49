"""Output plausibility: a pose is published only if it agrees with the data it came from.

The network always answers; nothing in its outputs says "this input was garbage". So every decoded
pose is checked against the instance's own observed points (camera frame, metres) before it leaves
the pipeline:
- `implausible_centre`: the box centre lies in front of the camera and within one box diagonal
  (plus a margin) of the centroid of the points it was estimated from; a pose metres away from its
  own points describes no object of this frame;
- `implausible_size`: the box diagonal lies within the category's physical range;
- `unsupported_box`: the box, slightly inflated, holds most of the observed points; a box that
  explains only a few of them sits somewhere else than the object.

The limits are wide on purpose (objects of the NOCS categories, generous margins): on the held-out
generated split they refuse no pose within 10 deg / 5 cm of the truth (docs/runtime.md gives the
counts), while poses far from their data are refused with a reason the node counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .types import PoseEstimate

REJECT_IMPLAUSIBLE_CENTRE = "implausible_centre"
REJECT_IMPLAUSIBLE_SIZE = "implausible_size"
REJECT_UNSUPPORTED_BOX = "unsupported_box"
PLAUSIBILITY_REASONS = (REJECT_IMPLAUSIBLE_CENTRE, REJECT_IMPLAUSIBLE_SIZE, REJECT_UNSUPPORTED_BOX)

#: Box diagonal ranges (metres) per category: roughly 0.4x the smallest and 2.5x the largest object of
#: the category one meets on a table (REAL275 / CAMERA25 instances and the generator's shape ranges).
DEFAULT_DIAGONAL_RANGES_M: Mapping[str, tuple[float, float]] = {
    "bottle": (0.05, 0.8), "bowl": (0.05, 0.8), "camera": (0.04, 0.6),
    "can": (0.04, 0.5), "laptop": (0.12, 1.2), "mug": (0.04, 0.5),
}


@dataclass(frozen=True)
class PlausibilityConfig:
    """Limits of the output check (core/plausibility.py). `enabled: False` publishes every decoded pose."""

    enabled: bool = True
    centre_margin_m: float = 0.05  # allowed distance of the centre from the points' centroid beyond one diagonal
    diagonal_ranges_m: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_DIAGONAL_RANGES_M))
    other_diagonal_range_m: tuple[float, float] = (0.02, 2.0)  # categories without their own range
    box_inflation: float = 1.25  # half extents are scaled by this ...
    box_margin_m: float = 0.01  # ... and grown by this before counting the points inside
    min_support: float = 0.5  # fraction of the observed points the inflated box must hold

    def __post_init__(self) -> None:
        from .errors import ConfigError

        if not (self.centre_margin_m >= 0 and self.box_inflation >= 1 and self.box_margin_m >= 0
                and 0 <= self.min_support <= 1):
            raise ConfigError(f"plausibility limits out of range: {self}")
        for name, (lo, hi) in {**dict(self.diagonal_ranges_m), "other": self.other_diagonal_range_m}.items():
            if not 0 < lo < hi:
                raise ConfigError(f"plausibility diagonal range of {name} must satisfy 0 < low < high, got {(lo, hi)}")

    def diagonal_range(self, category: str) -> tuple[float, float]:
        return tuple(self.diagonal_ranges_m.get(category, self.other_diagonal_range_m))  # type: ignore[return-value]


def box_support(pose: PoseEstimate, points: np.ndarray, inflation: float, margin_m: float) -> float:
    """Fraction of `points` (N, 3, camera frame) inside the pose's box, its half extents scaled by
    `inflation` and grown by `margin_m`."""
    local = (np.asarray(points, np.float64) - pose.translation) @ pose.rotation  # rows: R^T (p - t)
    half = 0.5 * np.asarray(pose.size, np.float64) * inflation + margin_m
    return float(np.all(np.abs(local) <= half, axis=1).mean()) if len(local) else 0.0


def implausibility(pose: PoseEstimate, points: np.ndarray, cfg: PlausibilityConfig) -> str | None:
    """The reason this pose cannot be the object its `points` show, or None when it is plausible."""
    if not cfg.enabled:
        return None
    diagonal = float(np.linalg.norm(pose.size))
    lo, hi = cfg.diagonal_range(pose.category)
    if not lo <= diagonal <= hi:
        return REJECT_IMPLAUSIBLE_SIZE
    pts = np.asarray(points, np.float64)
    centroid = pts.mean(0)
    if not (pose.translation[2] > 0 and np.linalg.norm(pose.translation - centroid) <= diagonal + cfg.centre_margin_m):
        return REJECT_IMPLAUSIBLE_CENTRE
    if box_support(pose, pts, cfg.box_inflation, cfg.box_margin_m) < cfg.min_support:
        return REJECT_UNSUPPORTED_BOX
    return None


__all__ = ["DEFAULT_DIAGONAL_RANGES_M", "PLAUSIBILITY_REASONS", "PlausibilityConfig", "REJECT_IMPLAUSIBLE_CENTRE",
           "REJECT_IMPLAUSIBLE_SIZE", "REJECT_UNSUPPORTED_BOX", "box_support", "implausibility"]
