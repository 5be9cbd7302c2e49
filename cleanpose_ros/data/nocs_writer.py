"""Writes synthetic frames in the NOCS on-disk format (docs/data.md, "On-disk format").

Per frame: `_color.png` (RGB8), `_depth.png` (uint16 mm; CAMERA: 3-channel G*256+B plus the
16-bit `camera_full_depths/..._composed.png`), `_mask.png` (instance ids, 255 background),
`_coord.png` (255 * (x, y, 1 - z) of canonical + 0.5), `_meta.txt`, `_label.pkl` (DPDN layout),
the ground truth `gts/.../results_*.pkl` and, on request, a segmentation-results pickle with the
ground-truth masks as "predictions". The label pickle is written last: its presence marks a
complete frame (resuming skips such frames).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..core.geometry import compose_srt
from ..core.types import CATEGORIES
from .nocs_layout import NocsLayout
from .nocs_pickle import write_pickle
from .png_writer import FILTER_SUB, write_png
from .scene import LABEL_MIN_DEPTH_PIXELS, ObjectAnnotation, SyntheticFrame

logger = logging.getLogger(__name__)

PNG_COMPRESS_LEVEL = 1  # zlib level: fast; the files stay ordinary PNGs


@dataclass(frozen=True)
class WrittenFrame:
    rel: str  # "<split>/<scene>/<XXXX>"
    num_labelled: int


def _save_png(path: Path, array: np.ndarray, row_filter: int | None = None) -> None:
    write_png(path, array, PNG_COMPRESS_LEVEL, row_filter)


def encode_coord(nocs01: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) canonical+0.5 in [0, 1] -> uint8 PNG channels (R, G, B) = 255 * (x, y, 1 - z)."""
    enc = np.stack([nocs01[:, :, 0], nocs01[:, :, 1], 1.0 - nocs01[:, :, 2]], axis=2)
    enc = np.clip(np.rint(enc * 255.0), 0, 255).astype(np.uint8)
    enc[(mask == 255) | (mask == 0)] = 0
    return enc


def encode_coord8(nocs8: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Same encoding from 8-bit NOCS (round(255 * (canonical + 0.5))): blue = 255 - z8."""
    enc = nocs8.copy()
    on_object = (mask != 255) & (mask != 0)
    enc[:, :, 2] = np.where(on_object, 255 - nocs8[:, :, 2], 0)
    return enc


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    mm = np.rint(np.nan_to_num(depth_m, nan=0.0) * 1000.0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def label_dict(annotations: list[ObjectAnnotation], model_points: Mapping[str, np.ndarray]) -> dict:
    """The DPDN `_label.pkl` dict for the instances with enough valid depth."""
    kept = [a for a in annotations if a.valid_depth_pixels >= LABEL_MIN_DEPTH_PIXELS]
    n = len(kept)
    poses = np.array([compose_srt(a.scale, a.rotation, a.translation) for a in kept], dtype=np.float32).reshape(n, 4, 4)
    return {
        "class_ids": np.array([CATEGORIES.index(a.category) + 1 for a in kept], dtype=np.int64),
        "bboxes": np.array([a.bbox for a in kept], dtype=np.int32).reshape(n, 4),
        "instance_ids": [int(a.instance_id) for a in kept],
        "model_list": [a.model_name for a in kept],
        "sizes": np.array([2.0 * np.abs(model_points[a.model_name]).max(axis=0) for a in kept],
                          dtype=np.float64).reshape(n, 3),
        "scales": np.array([a.scale for a in kept], dtype=np.float32),
        "rotations": np.array([a.rotation for a in kept], dtype=np.float32).reshape(n, 3, 3),
        "translations": np.array([a.translation for a in kept], dtype=np.float32).reshape(n, 3),
        "poses": poses,
        "handle_visibility": np.array([a.handle_visibility for a in kept], dtype=np.int64),
    }


def gt_dict(image_path: str, annotations: list[ObjectAnnotation]) -> dict:
    """Per-frame ground truth read by the NOCS evaluation (instances in ascending mask id)."""
    n = len(annotations)
    rts = np.array([compose_srt(a.scale, a.rotation, a.translation) for a in annotations],
                   dtype=np.float64).reshape(n, 4, 4)
    return {
        "image_path": image_path,
        "gt_class_ids": np.array([CATEGORIES.index(a.category) + 1 for a in annotations], dtype=np.int64),
        "gt_bboxes": np.array([a.bbox for a in annotations], dtype=np.int32).reshape(n, 4),
        "gt_RTs": rts,
        "gt_scales": np.array([a.nocs_size for a in annotations], dtype=np.float32).reshape(n, 3),
        "gt_handle_visibility": np.array([a.handle_visibility for a in annotations], dtype=np.int64),
    }


def segmentation_dict(image_path: str, frame: SyntheticFrame) -> dict:
    """A segmentation-results pickle whose 'predictions' are the ground-truth masks (score 1)."""
    anns = frame.annotations
    m = len(anns)
    h, w = frame.mask.shape
    masks = np.zeros((h, w, m), dtype=bool)
    for j, a in enumerate(anns):
        masks[:, :, j] = frame.mask == a.instance_id
    gt = gt_dict(image_path, anns)
    return {
        "image_path": image_path,
        "pred_masks": masks,
        "pred_bboxes": gt["gt_bboxes"].copy(),
        "pred_class_ids": gt["gt_class_ids"].astype(np.int32),
        "pred_scores": np.ones(m, dtype=np.float32),
        **{k: v for k, v in gt.items() if k != "image_path"},
    }


def frame_is_complete(layout: NocsLayout, rel: str) -> bool:
    return Path(f"{layout.prefix(rel)}_label.pkl").is_file()


def write_frame(layout: NocsLayout, rel: str, frame: SyntheticFrame, model_points: Mapping[str, np.ndarray],
                write_segmentation: bool = False) -> WrittenFrame:
    prefix = layout.prefix(rel)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    _save_png(Path(f"{prefix}_color.png"), frame.rgb)
    depth_mm = depth_to_mm(frame.depth_m)
    if layout.is_camera:
        # CAMERA's own _depth.png is 3-channel: readers compute bgr[:, :, 1] * 256 + bgr[:, :, 2]
        # on an OpenCV BGR image, i.e. high byte in green and low byte in the file's red channel.
        # The composed full-scene depth lives in camera_full_depths as 16-bit.
        three = np.zeros(depth_mm.shape + (3,), dtype=np.uint8)
        three[:, :, 1] = depth_mm >> 8
        three[:, :, 0] = depth_mm & 0xFF
        _save_png(Path(f"{prefix}_depth.png"), three)
        full = layout.full_depth_path(rel)
        full.parent.mkdir(parents=True, exist_ok=True)
        _save_png(full, depth_mm)
    else:
        _save_png(Path(f"{prefix}_depth.png"), depth_mm)
    _save_png(Path(f"{prefix}_mask.png"), frame.mask)
    _save_png(Path(f"{prefix}_coord.png"), encode_coord8(frame.nocs8, frame.mask), FILTER_SUB)  # smooth: Sub
    Path(f"{prefix}_meta.txt").write_text("".join(f"{i} {c} {name}\n" for i, c, name in frame.meta))
    image_path = layout.image_path(rel)
    layout.gts_dir.mkdir(parents=True, exist_ok=True)
    write_pickle(layout.gts_path(rel), gt_dict(image_path, frame.annotations))
    if write_segmentation:
        layout.seg_results_dir.mkdir(parents=True, exist_ok=True)
        write_pickle(layout.seg_results_path(rel), segmentation_dict(image_path, frame))
    label = label_dict(frame.annotations, model_points)
    write_pickle(Path(f"{prefix}_label.pkl"), label)
    return WrittenFrame(rel=rel, num_labelled=len(label["class_ids"]))


def write_lists(layout: NocsLayout, frames: list[WrittenFrame]) -> None:
    """`<split>_list_all.txt` (every frame) and `<split>_list.txt` (frames with >= 1 labelled instance)."""
    frames = sorted(frames, key=lambda f: _sort_key(f.rel))
    layout.list_all_path.parent.mkdir(parents=True, exist_ok=True)
    layout.list_all_path.write_text("".join(f"{f.rel}\n" for f in frames))
    layout.list_valid_path.write_text("".join(f"{f.rel}\n" for f in frames if f.num_labelled > 0))


def _sort_key(rel: str) -> tuple:
    parts = rel.split("/")
    scene = parts[-2]
    num = int(scene.split("_")[-1]) if scene.split("_")[-1].isdigit() else scene
    return (num, int(parts[-1]))


def write_obj_models(layout: NocsLayout, models: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """obj_models/<source>_<split>.pkl = {name: (1024, 3) canonical points} and <name>.txt metric sizes."""
    layout.obj_models_pkl.parent.mkdir(parents=True, exist_ok=True)
    write_pickle(layout.obj_models_pkl, {name: pts for name, (pts, _) in sorted(models.items())})
    layout.obj_models_dir.mkdir(parents=True, exist_ok=True)
    for name, (_, size_m) in sorted(models.items()):
        (layout.obj_models_dir / f"{name}.txt").write_text(" ".join(f"{v:.6f}" for v in size_m) + "\n")
