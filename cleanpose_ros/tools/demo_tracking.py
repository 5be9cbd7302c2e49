"""What the tracking demo reports (`cleanpose-demo --tracking`): names and steadiness, raw against tracked.

The demo camera plays a static table seen by a hand-held camera, with the segmenter's instance ids
renumbered every frame; the node tracks. For each frame the observer keeps the ground truth, the raw
per-frame estimates (pose_estimation/detections_raw) and the tracked ones (pose_estimation/detections).
This module turns those records into the numbers the demo prints:

- names: how many distinct instance ids the raw estimates carried and which track names (TF child
  frames) were published;
- jitter: the frame-to-frame change of each object's error against the truth (the truth moves with
  the camera, so a change of the error is the estimate shaking, not the camera moving): translation in
  mm for every object, rotation in degrees for the categories without a symmetry axis;
- accuracy: 10deg5cm share and median errors, raw and tracked.

Ground-truth objects keep no id across frames either; they are chained from frame to frame by category
and nearest centre (consecutive frames of the sequence move them by millimetres, neighbours are
centimetres apart). Tracked estimates are matched to the truth by category and nearest centre.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.types import PoseEstimate
from ..metrics.pose_errors import rotation_error_deg, translation_error_cm, uses_y_symmetry

#: a ground-truth object moves less than this (camera frame) between consecutive reported frames (the node
#: skips frames it cannot keep up with, so those can be a few sequence frames apart)
CHAIN_GATE_M = 0.06
#: a tracked estimate farther than this from every ground-truth centre of its category is not matched
MATCH_GATE_M = 0.10


@dataclass(frozen=True)
class TrackedFrame:
    stamp_ns: int
    truth: tuple[PoseEstimate, ...]
    raw: tuple[PoseEstimate, ...]
    tracked: tuple[PoseEstimate, ...]


@dataclass(frozen=True)
class Steadiness:
    rotation_jitter_deg: float  # median frame-to-frame change of the rotation error (non-symmetric categories)
    translation_jitter_mm: float  # median frame-to-frame change of the translation error vector
    within_10deg_5cm: float  # share of matched estimates
    median_rotation_error_deg: float
    median_translation_error_cm: float
    poses: int


@dataclass(frozen=True)
class TrackingSummary:
    frames: int
    raw_ids: int  # distinct instance ids among the raw estimates
    track_names: tuple[str, ...]  # distinct (category, track id) published, as TF child frames
    raw: Steadiness
    tracked: Steadiness
    objects: int = field(default=0)  # ground-truth objects chained over the sequence


def _chain_truth(frames: Sequence[TrackedFrame]) -> list[dict[int, PoseEstimate]]:
    """Per frame {object key: truth pose}: keys persist across frames by category and nearest centre."""
    chained: list[dict[int, PoseEstimate]] = []
    next_key = 0
    previous: dict[int, PoseEstimate] = {}
    for frame in frames:
        current: dict[int, PoseEstimate] = {}
        free = dict(previous)
        for gt in frame.truth:
            candidates = [(float(np.linalg.norm(p.translation - gt.translation)), k) for k, p in free.items()
                          if p.category == gt.category]
            distance, key = min(candidates, default=(np.inf, -1))
            if distance > CHAIN_GATE_M:
                key, next_key = next_key, next_key + 1
            else:
                free.pop(key)
            current[key] = gt
        chained.append(current)
        previous = current
    return chained


def _match(estimates: Sequence[PoseEstimate], truth: dict[int, PoseEstimate], by_id: bool) -> dict[int, PoseEstimate]:
    """{truth key: estimate}: raw estimates carry the truth's instance id; tracked ones are matched by
    category and nearest centre (greedy, closest pairs first)."""
    if by_id:
        key_of = {gt.instance_id: key for key, gt in truth.items()}
        return {key_of[e.instance_id]: e for e in estimates if e.instance_id in key_of}
    pairs = sorted((float(np.linalg.norm(e.translation - gt.translation)), i, key)
                   for i, e in enumerate(estimates) for key, gt in truth.items() if e.category == gt.category)
    matched: dict[int, PoseEstimate] = {}
    used: set[int] = set()
    for distance, i, key in pairs:
        if distance <= MATCH_GATE_M and i not in used and key not in matched:
            matched[key] = estimates[i]
            used.add(i)
    return matched


def _steadiness(frames: Sequence[TrackedFrame], truth: list[dict[int, PoseEstimate]], tracked: bool) -> Steadiness:
    rot_err, trans_err, rot_jitter, trans_jitter = [], [], [], []
    last: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # key -> (rotation error matrix, translation error vector)
    for frame, gt_by_key in zip(frames, truth):
        estimates = frame.tracked if tracked else frame.raw
        now: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for key, est in _match(estimates, gt_by_key, by_id=not tracked).items():
            gt = gt_by_key[key]
            symmetric = uses_y_symmetry(gt.category)
            rot_err.append(float(rotation_error_deg(est.rotation, gt.rotation, symmetric)))
            trans_err.append(float(translation_error_cm(est.translation, gt.translation)))
            now[key] = (est.rotation @ gt.rotation.T, est.translation - gt.translation)
            if key in last:
                trans_jitter.append(1e3 * float(np.linalg.norm(now[key][1] - last[key][1])))
                if not symmetric:
                    change = now[key][0] @ last[key][0].T
                    rot_jitter.append(float(np.degrees(np.arccos(np.clip((np.trace(change) - 1) / 2, -1, 1)))))
        last = now
    rot, trans = np.asarray(rot_err), np.asarray(trans_err)

    def median(values: list[float] | np.ndarray) -> float:
        return float(np.median(values)) if len(values) else float("nan")

    return Steadiness(rotation_jitter_deg=median(rot_jitter), translation_jitter_mm=median(trans_jitter),
                      within_10deg_5cm=float(np.mean((rot <= 10) & (trans <= 5))) if len(rot) else float("nan"),
                      median_rotation_error_deg=median(rot), median_translation_error_cm=median(trans), poses=len(rot))


def summarise(frames: Sequence[TrackedFrame], tf_prefix: str = "cleanpose_") -> TrackingSummary:
    frames = sorted(frames, key=lambda f: f.stamp_ns)
    truth = _chain_truth(frames)
    names = sorted({f"{tf_prefix}{p.category}_{p.instance_id}" for f in frames for p in f.tracked})
    return TrackingSummary(frames=len(frames), raw_ids=len({p.instance_id for f in frames for p in f.raw}),
                           track_names=tuple(names), raw=_steadiness(frames, truth, tracked=False),
                           tracked=_steadiness(frames, truth, tracked=True),
                           objects=len({k for t in truth for k in t}))


def print_summary(summary: TrackingSummary) -> None:
    raw, tracked = summary.raw, summary.tracked
    print(f"tracking: {summary.frames} frames of a hand-held camera circling a table ({summary.objects} objects), "
          f"the segmenter's ids renumbered every frame")
    print(f"  names: the raw estimates carried {summary.raw_ids} different instance ids; the node published "
          f"{len(summary.track_names)} track names: {', '.join(summary.track_names)}")
    print(f"  frame-to-frame jitter: rotation {raw.rotation_jitter_deg:.2f} deg raw -> {tracked.rotation_jitter_deg:.2f} "
          f"deg tracked (camera, laptop, mug), translation {raw.translation_jitter_mm:.1f} mm -> "
          f"{tracked.translation_jitter_mm:.1f} mm")
    print(f"  accuracy: within 10deg/5cm {100 * raw.within_10deg_5cm:.0f} % raw ({raw.poses} poses) -> "
          f"{100 * tracked.within_10deg_5cm:.0f} % tracked ({tracked.poses}); median rotation error "
          f"{raw.median_rotation_error_deg:.1f} -> {tracked.median_rotation_error_deg:.1f} deg, translation "
          f"{raw.median_translation_error_cm:.2f} -> {tracked.median_translation_error_cm:.2f} cm")
