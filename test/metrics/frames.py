"""Builders of hand-made evaluation frames for the metrics tests (imported as test.metrics.frames)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from cleanpose_ros.core.geometry import axis_angle_to_rotation, random_rotation
from cleanpose_ros.core.types import CATEGORIES
from cleanpose_ros.metrics.frame_record import FrameRecord, srt_and_normalised_size

#: Typical metric box sizes (m) per category, used by the hand-made frames.
SIZES = {"bottle": (0.08, 0.22, 0.08), "bowl": (0.16, 0.07, 0.16), "camera": (0.12, 0.10, 0.08),
         "can": (0.07, 0.12, 0.07), "laptop": (0.35, 0.25, 0.30), "mug": (0.12, 0.10, 0.09)}


def make_frame(frame_id: str, gts: Sequence[tuple], preds: Sequence[tuple]) -> FrameRecord:
    """gts: (category, R, t, size, handle_visible); preds: (category, R, t, size, score)."""
    g = [srt_and_normalised_size(r, t, s) for _, r, t, s, _ in gts]
    p = [srt_and_normalised_size(r, t, s) for _, r, t, s, _ in preds]
    return FrameRecord(
        frame_id=frame_id,
        gt_class_ids=[CATEGORIES.index(x[0]) for x in gts], gt_srts=[x[0] for x in g],
        gt_scales=[x[1] for x in g], gt_handle_visible=[x[4] for x in gts],
        pred_class_ids=[CATEGORIES.index(x[0]) for x in preds], pred_scores=[x[4] for x in preds],
        pred_srts=[x[0] for x in p], pred_scales=[x[1] for x in p],
    )


def scene_objects(rng: np.random.Generator, categories: Sequence[str]) -> list[tuple]:
    """One ground truth per category, spread out in front of the camera (no overlaps)."""
    objs = []
    for k, cat in enumerate(categories):
        t = np.array([-0.6 + 0.4 * k, 0.05 * (k % 2), 1.0 + 0.1 * (k % 3)])
        objs.append((cat, random_rotation(rng), t, np.array(SIZES[cat]), True))
    return objs


def random_frames(seed: int, n_frames: int):
    """Noisy predictions, misses, duplicates, false positives, hidden mug handles and a NaN pose."""
    rng = np.random.default_rng(seed)
    frames = []
    for f in range(n_frames):
        cats = list(rng.choice(CATEGORIES, size=rng.integers(1, 5)))
        gts = []
        for k, cat in enumerate(cats):
            t = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.3)])
            gts.append((cat, random_rotation(rng), t, np.array(SIZES[cat]) * rng.uniform(0.8, 1.2, 3),
                        bool(rng.random() > 0.4)))
        preds = []
        for cat, r, t, s, _ in gts:
            for _ in range(rng.integers(0, 3)):
                noise = axis_angle_to_rotation(rng.normal(size=3), np.radians(rng.uniform(0, 20)))
                preds.append((cat, r @ noise, t + rng.normal(0, 0.02, 3), s * rng.uniform(0.8, 1.25, 3),
                              float(np.round(rng.random(), 2))))
        if rng.random() < 0.3:
            cat = str(rng.choice(CATEGORIES))
            preds.append((cat, random_rotation(rng), np.array([0.0, 0.0, 1.0]), np.array(SIZES[cat]), 0.3))
        frames.append(make_frame(str(f), gts, preds))
    bad = frames[0]
    if bad.num_pred:
        bad.pred_srts[0, 0, 0] = np.nan
    return frames
