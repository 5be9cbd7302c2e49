"""Writes synthetic frames in the HouseCat6D layout (housecat_layout.py), to test the HouseCat6D
reader without the real dataset. Only objects whose NOCS category has a HouseCat6D class
(bottle, can, mug -> cup) are labelled; the others stay in the images as unlabelled clutter.
The instance PNG uses 0 as background (an assumption: the public loaders only compare ids).
"""
from __future__ import annotations

import logging

import numpy as np

from ..core.types import CameraIntrinsics
from .housecat_layout import HOUSECAT_CATEGORIES, HOUSECAT_TO_NOCS, HouseCatLayout
from .nocs_pickle import write_pickle
from .nocs_writer import PNG_COMPRESS_LEVEL, depth_to_mm
from .png_writer import write_png
from .scene import LABEL_MIN_DEPTH_PIXELS, SyntheticFrame

logger = logging.getLogger(__name__)

NOCS_TO_HOUSECAT_ID = {nocs: HOUSECAT_CATEGORIES.index(hc) + 1 for hc, nocs in HOUSECAT_TO_NOCS.items()}


def housecat_scene_name(split: str, scene_index: int) -> str:
    return f"test_scene{scene_index + 1}" if split == "test" else f"scene{scene_index + 1:02d}"


def housecat_label(frame: SyntheticFrame) -> dict:
    kept = [a for a in frame.annotations
            if a.category in NOCS_TO_HOUSECAT_ID and a.valid_depth_pixels >= LABEL_MIN_DEPTH_PIXELS]
    n = len(kept)
    return {
        "class_ids": np.array([NOCS_TO_HOUSECAT_ID[a.category] for a in kept], dtype=np.int64),
        "instance_ids": [int(a.instance_id) for a in kept],
        "bboxes": np.array([a.bbox for a in kept], dtype=np.int32).reshape(n, 4),
        "rotations": np.array([a.rotation for a in kept], dtype=np.float32).reshape(n, 3, 3),
        "translations": np.array([a.translation for a in kept], dtype=np.float32).reshape(n, 3),
        "gt_scales": np.array([a.size_m for a in kept], dtype=np.float32).reshape(n, 3),
        "model_list": [a.model_name for a in kept],
    }


def write_housecat_frame(layout: HouseCatLayout, scene: str, index: int, frame: SyntheticFrame,
                         intrinsics: CameraIntrinsics) -> int:
    """Write one frame; returns the number of labelled instances. The label is written last."""
    for sub in ("rgb", "depth", "instance", "labels"):
        (layout.scene_dir(scene) / sub).mkdir(parents=True, exist_ok=True)
    k_path = layout.intrinsics_path(scene)
    if not k_path.is_file():
        np.savetxt(k_path, intrinsics.matrix, fmt="%.6f")
    meta = layout.meta_path(scene)
    if not meta.is_file():
        hc_rows = [(i, NOCS_TO_HOUSECAT_ID.get(name.split("_")[0], 0), name) for i, _, name in frame.meta]
        meta.write_text("".join(f"{i} {c} {name}\n" for i, c, name in hc_rows))
    write_png(layout.rgb_path(scene, index), frame.rgb, PNG_COMPRESS_LEVEL)
    write_png(layout.depth_path(scene, index), depth_to_mm(frame.depth_m), PNG_COMPRESS_LEVEL)
    ids = np.where(frame.mask == 255, 0, frame.mask).astype(np.uint8)
    write_png(layout.instance_path(scene, index), ids, PNG_COMPRESS_LEVEL)
    label = housecat_label(frame)
    write_pickle(layout.label_path(scene, index), label)
    return len(label["class_ids"])
