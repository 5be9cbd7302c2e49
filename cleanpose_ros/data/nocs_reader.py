"""Readers of the NOCS data tree (REAL275 / CAMERA and our synthetic copies of it).

Returns core types: `NocsFrameRecord.frame` is a core `Frame`, `.instances` core `Instance`s
(ground-truth masks, or those of a segmentation-results pickle), `.gt` a `GroundTruth`.
File formats: docs/data.md "On-disk format".
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from ..core.geometry import decompose_srt
from ..core.types import CAMERA25_INTRINSICS, CATEGORIES, REAL275_INTRINSICS, CameraIntrinsics, Frame, Instance
from .nocs_layout import NocsLayout
from .nocs_pickle import read_pickle

logger = logging.getLogger(__name__)

MASK_BACKGROUND = 255


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Ground truth of the annotated instances of one frame (camera frame, metres)."""

    class_ids: np.ndarray  # (N,) int64, 1-based class id (index into `categories` + 1)
    instance_ids: np.ndarray  # (N,) int64, mask values
    rotations: np.ndarray  # (N, 3, 3) float64 canonical -> camera
    translations: np.ndarray  # (N, 3) float64 m
    sizes_m: np.ndarray  # (N, 3) float64 metric box extents along canonical x, y, z
    scales: np.ndarray  # (N,) float64 metres per canonical unit
    handle_visibility: np.ndarray  # (N,) int64
    bboxes: np.ndarray  # (N, 4) int32 [y1, x1, y2, x2)
    model_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = CATEGORIES

    def __len__(self) -> int:
        return int(self.class_ids.shape[0])

    @property
    def category_names(self) -> list[str]:
        return [self.categories[int(c) - 1] for c in self.class_ids]

    def srt(self, i: int) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.scales[i] * self.rotations[i]
        m[:3, 3] = self.translations[i]
        return m

    @classmethod
    def from_label(cls, label: dict, categories: Sequence[str] = CATEGORIES) -> "GroundTruth":
        """From a DPDN `_label.pkl` dict ('sizes' normalised; SPD's 'size' accepted too)."""
        n = len(label["class_ids"])
        sizes = np.asarray(label.get("sizes", label.get("size")), dtype=np.float64).reshape(n, 3)
        scales = np.asarray(label["scales"], dtype=np.float64).reshape(n)
        return cls(class_ids=np.asarray(label["class_ids"], dtype=np.int64).reshape(n),
                   instance_ids=np.asarray(label["instance_ids"], dtype=np.int64).reshape(n),
                   rotations=np.asarray(label["rotations"], dtype=np.float64).reshape(n, 3, 3),
                   translations=np.asarray(label["translations"], dtype=np.float64).reshape(n, 3),
                   sizes_m=sizes * scales[:, None], scales=scales,
                   handle_visibility=np.asarray(label.get("handle_visibility", np.ones(n)), dtype=np.int64).reshape(n),
                   bboxes=np.asarray(label.get("bboxes", np.zeros((n, 4))), dtype=np.int32).reshape(n, 4),
                   model_names=tuple(label.get("model_list", ())), categories=tuple(categories))

    @classmethod
    def from_gts(cls, gts: dict, instance_ids: Sequence[int], class_ids: Sequence[int],
                 categories: Sequence[str] = CATEGORIES) -> "GroundTruth":
        """From a `gts/.../results_*.pkl` dict (gt_RTs with scale folded in). Sizes need 'gt_scales'
        (normalised extents); without them (real_test files) sizes are NaN."""
        rts = np.asarray(gts["gt_RTs"], dtype=np.float64).reshape(-1, 4, 4)
        n = rts.shape[0]
        decomposed = [decompose_srt(rt) for rt in rts]
        scales = np.array([d[0] for d in decomposed]).reshape(n)
        norm = np.asarray(gts["gt_scales"], dtype=np.float64).reshape(n, 3) if "gt_scales" in gts else np.full((n, 3), np.nan)
        return cls(class_ids=np.asarray(gts.get("gt_class_ids", class_ids), dtype=np.int64).reshape(n),
                   instance_ids=np.asarray(instance_ids, dtype=np.int64).reshape(n),
                   rotations=np.array([d[1] for d in decomposed]).reshape(n, 3, 3),
                   translations=np.array([d[2] for d in decomposed]).reshape(n, 3),
                   sizes_m=norm * scales[:, None], scales=scales,
                   handle_visibility=np.asarray(gts.get("gt_handle_visibility", np.ones(n)), dtype=np.int64).reshape(n),
                   bboxes=np.asarray(gts.get("gt_bboxes", np.zeros((n, 4))), dtype=np.int32).reshape(n, 4),
                   categories=tuple(categories))


# --------------------------------------------------------------------------- file decoding
def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img)


def decode_depth_mm(raw: np.ndarray) -> np.ndarray:
    """uint16 mm, or CAMERA's 3-channel encoding -> uint16 mm.

    The public readers compute `img[:, :, 1] * 256 + img[:, :, 2]` on an OpenCV (BGR) image: high
    byte in green, low byte in the file's RED channel (index 0 of an RGB array).
    """
    if raw.ndim == 3:
        return (raw[:, :, 1].astype(np.uint16) * 256 + raw[:, :, 0].astype(np.uint16)).astype(np.uint16)
    return raw.astype(np.uint16)


def decode_mask(raw: np.ndarray) -> np.ndarray:
    """Instance-id mask (uint8, 255 background); colour masks keep the red channel (cv2 index 2)."""
    return (raw[:, :, 0] if raw.ndim == 3 else raw).astype(np.uint8)


def decode_coord(raw: np.ndarray) -> np.ndarray:
    """Coord PNG (R, G, B) = 255 * (x, y, 1 - z) -> canonical coordinates in [-0.5, 0.5]."""
    c = raw[:, :, :3].astype(np.float32) / 255.0
    c[:, :, 2] = 1.0 - c[:, :, 2]
    return c - 0.5


def read_meta(path: Path) -> list[tuple[int, int, str]]:
    out = []
    for line in Path(path).read_text().splitlines():
        parts = line.split(" ")
        if len(parts) >= 3:
            out.append((int(parts[0]), int(parts[1]), parts[2]))
    return out


def read_coord_png(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Raw (H, W, 3) uint8 coord PNG, zeros when the file does not exist."""
    return read_png(path)[:, :, :3] if Path(path).is_file() else np.zeros(shape + (3,), np.uint8)


@dataclass(frozen=True, eq=False)
class FrameFiles:
    rgb: np.ndarray
    depth_m: np.ndarray
    mask: np.ndarray
    coord_path: Path
    meta: list[tuple[int, int, str]]
    label: dict | None

    @cached_property
    def coord_png(self) -> np.ndarray:
        """Read on first use: training never needs the NOCS map, and its PNG costs a decode."""
        return read_coord_png(self.coord_path, self.mask.shape)


def load_frame_files(prefix: Path, depth_path: Path | None = None) -> FrameFiles:
    """Everything stored for one frame prefix (…/scene_N/XXXX)."""
    prefix = Path(prefix)
    rgb = read_png(Path(f"{prefix}_color.png"))[:, :, :3]
    dpath = depth_path if depth_path is not None and Path(depth_path).is_file() else Path(f"{prefix}_depth.png")
    depth = decode_depth_mm(read_png(dpath)).astype(np.float32) / 1000.0
    mask = decode_mask(read_png(Path(f"{prefix}_mask.png")))
    meta_path = Path(f"{prefix}_meta.txt")
    meta = read_meta(meta_path) if meta_path.is_file() else []
    label_path = Path(f"{prefix}_label.pkl")
    label = read_pickle(label_path) if label_path.is_file() else None
    return FrameFiles(rgb=np.ascontiguousarray(rgb), depth_m=depth, mask=mask, coord_path=Path(f"{prefix}_coord.png"), meta=meta, label=label)


# --------------------------------------------------------------------------- records
@dataclass(frozen=True, eq=False)
class NocsFrameRecord:
    """One frame of a NOCS tree with its ground-truth instances."""

    rel: str  # "<split>/<scene>/<XXXX>"
    frame: Frame
    mask: np.ndarray  # (H, W) uint8 instance ids, 255 background
    gt: GroundTruth | None
    meta: list[tuple[int, int, str]]
    coord_path: Path

    @property
    def instances(self) -> list[Instance]:
        """Ground-truth instances (label order) with their masks; meta order when there is no label."""
        if self.gt is not None:
            ids, names = self.gt.instance_ids.tolist(), self.gt.category_names
        else:
            present = set(np.unique(self.mask).tolist()) - {MASK_BACKGROUND}
            rows = [(i, c) for i, c, _ in self.meta if i in present and 1 <= c <= len(CATEGORIES)]
            ids, names = [i for i, _ in rows], [CATEGORIES[c - 1] for _, c in rows]
        return [Instance(instance_id=int(i), category=n, mask=self.mask == i) for i, n in zip(ids, names)]

    @cached_property
    def nocs(self) -> np.ndarray:
        """(H, W, 3) canonical coordinates decoded from the coord PNG (meaningful on object pixels)."""
        return decode_coord(self.coord_png)

    @cached_property
    def coord_png(self) -> np.ndarray:
        """Raw coord PNG, read on first use."""
        return read_coord_png(self.coord_path, self.mask.shape)


class NocsReader:
    """Frames of one <source>/<split> of a NOCS tree.

    root: the folder that plays the role of `data/` (contains real/, camera/, gts/, obj_models/).
    source: 'real' or 'camera' (or another tree name our generator wrote); split: 'train', 'test', 'val'.
    valid_only: read `<split>_list.txt` (frames with annotated objects) instead of `_list_all.txt`.
    For CAMERA the composed full-scene depth of `camera_full_depths/` is used when present.
    """

    def __init__(self, root: str | Path, source: str = "real", split: str = "test",
                 intrinsics: CameraIntrinsics | None = None, valid_only: bool = True,
                 categories: Sequence[str] = CATEGORIES) -> None:
        self.layout = NocsLayout(Path(root), source, split)
        self.intrinsics = intrinsics or (CAMERA25_INTRINSICS if source == "camera" else REAL275_INTRINSICS)
        self.categories = tuple(categories)
        list_path = self.layout.list_valid_path if valid_only else self.layout.list_all_path
        if not list_path.is_file():
            list_path = self.layout.list_all_path
        self.list_path: Path | None = list_path if list_path.is_file() else None
        if self.list_path is not None:
            self.rels = [ln.strip() for ln in list_path.read_text().splitlines() if ln.strip()]
        else:  # no list file: scan the tree
            base = Path(root) / source
            self.rels = sorted(str(p.relative_to(base))[: -len("_color.png")]
                               for p in (base / split).glob("*/*_color.png"))
        if not self.rels:
            raise FileNotFoundError(f"no frames found for {source}/{split} under {root}")

    def __len__(self) -> int:
        return len(self.rels)

    def __iter__(self) -> Iterator[NocsFrameRecord]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int) -> NocsFrameRecord:
        return self.read(self.rels[index])

    def read(self, rel: str) -> NocsFrameRecord:
        prefix = self.layout.prefix(rel)
        full = self.layout.full_depth_path(rel) if self.layout.is_camera else None
        files = load_frame_files(prefix, full)
        frame = Frame(rgb=files.rgb, depth_m=files.depth_m, intrinsics=self.intrinsics, frame_id=rel)
        gt = None
        if files.label is not None:
            gt = GroundTruth.from_label(files.label, self.categories)
        else:
            gts_path = self.layout.gts_path(rel)
            if gts_path.is_file():
                present = sorted(set(np.unique(files.mask).tolist()) - {MASK_BACKGROUND})
                meta_cls = {i: c for i, c, _ in files.meta}
                gt = GroundTruth.from_gts(read_pickle(gts_path), present, [meta_cls.get(i, 0) for i in present],
                                          self.categories)
        return NocsFrameRecord(rel=rel, frame=frame, mask=files.mask, gt=gt, meta=files.meta,
                               coord_path=files.coord_path)

    def ground_truth_file(self, rel: str) -> dict:
        """The raw `gts/.../results_*.pkl` dict of a frame (what the NOCS evaluation reads)."""
        return read_pickle(self.layout.gts_path(rel))

    def segmentation(self, rel: str, results_dir: str | Path | None = None) -> list[Instance]:
        """Instances of a segmentation-results pickle (`results_<split>_<scene>_<XXXX>.pkl`)."""
        folder = Path(results_dir) if results_dir is not None else self.layout.seg_results_dir
        path = folder / f"results_{'_'.join(rel.split('/')[-3:])}.pkl"
        return load_segmentation(path, self.categories)

    def obj_models(self) -> dict[str, np.ndarray]:
        """{model name: (M, 3) canonical points} from obj_models/<source>_<split>.pkl."""
        return read_pickle(self.layout.obj_models_pkl)


def load_segmentation(path: str | Path, categories: Sequence[str] = CATEGORIES) -> list[Instance]:
    """Instances from a NOCS/CleanPose segmentation-results pickle (pred_masks (H, W, M), 1-based class ids).

    Instance ids are 1..M in pickle order; class ids outside the category list give a category
    name 'class_<id>', which preprocessing then refuses with reason unknown_category.
    """
    res = read_pickle(Path(path))
    masks = np.asarray(res["pred_masks"]).astype(bool)
    if masks.ndim == 2:
        masks = masks[:, :, None]
    class_ids = np.asarray(res["pred_class_ids"]).reshape(-1)
    scores = np.asarray(res.get("pred_scores", np.ones(len(class_ids)))).reshape(-1)
    out = []
    for j, cid in enumerate(class_ids.tolist()):
        name = categories[cid - 1] if 1 <= cid <= len(categories) else f"class_{cid}"
        out.append(Instance(instance_id=j + 1, category=name, mask=masks[:, :, j], score=float(scores[j])))
    return out
