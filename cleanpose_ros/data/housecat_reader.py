"""Reader of the HouseCat6D layout (see housecat_layout.py), returning core types.

Ground truth keeps HouseCat6D's own classes; `instances` maps them to NOCS categories through
`category_map` (bottle, can, cup -> mug by default). Unmapped classes keep their HouseCat name,
which the preprocessing refuses with reason `unknown_category` unless the model knows it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ..core.types import CameraIntrinsics, Frame, Instance
from .housecat_layout import HOUSECAT_CATEGORIES, HOUSECAT_TO_NOCS, HouseCatLayout
from .nocs_pickle import read_pickle
from .nocs_reader import GroundTruth, decode_depth_mm, decode_mask, read_png

logger = logging.getLogger(__name__)


def read_intrinsics_txt(path: Path, width: int, height: int) -> CameraIntrinsics:
    k = np.loadtxt(path).reshape(3, 3)
    return CameraIntrinsics.from_matrix(k, width, height)


def ground_truth_from_housecat_label(label: dict) -> GroundTruth:
    """HouseCat6D label dict -> GroundTruth (gt_scales are metric extents; scale = their norm)."""
    n = len(label["class_ids"])
    sizes = np.asarray(label["gt_scales"], dtype=np.float64).reshape(n, 3)
    return GroundTruth(class_ids=np.asarray(label["class_ids"], dtype=np.int64).reshape(n),
                       instance_ids=np.asarray(label["instance_ids"], dtype=np.int64).reshape(n),
                       rotations=np.asarray(label["rotations"], dtype=np.float64).reshape(n, 3, 3),
                       translations=np.asarray(label["translations"], dtype=np.float64).reshape(n, 3),
                       sizes_m=sizes, scales=np.linalg.norm(sizes, axis=1),
                       handle_visibility=np.asarray(label.get("handle_visibility", np.ones(n)), dtype=np.int64).reshape(n),
                       bboxes=np.asarray(label.get("bboxes", np.zeros((n, 4))), dtype=np.int32).reshape(n, 4),
                       model_names=tuple(label.get("model_list", ())), categories=HOUSECAT_CATEGORIES)


@dataclass(frozen=True, eq=False)
class HouseCatFrameRecord:
    scene: str
    index: int
    frame: Frame
    mask: np.ndarray  # (H, W) uint8 instance ids
    gt: GroundTruth
    category_map: Mapping[str, str]

    @property
    def instances(self) -> list[Instance]:
        return [Instance(instance_id=int(i), category=self.category_map.get(name, name), mask=self.mask == i)
                for i, name in zip(self.gt.instance_ids.tolist(), self.gt.category_names)]


class HouseCatReader:
    """Frames of the HouseCat6D scenes matching `scene_glob` ('scene*' = train, 'test_scene*' = test)."""

    def __init__(self, root: str | Path, scene_glob: str = "test_scene*",
                 category_map: Mapping[str, str] = HOUSECAT_TO_NOCS) -> None:
        self.layout = HouseCatLayout(Path(root))
        self.category_map = dict(category_map)
        self.items: list[tuple[str, int]] = []
        for scene_dir in sorted(p for p in Path(root).glob(scene_glob) if (p / "rgb").is_dir()):
            for png in sorted((scene_dir / "rgb").glob("*.png")):
                self.items.append((scene_dir.name, int(png.stem)))
        if not self.items:
            raise FileNotFoundError(f"no HouseCat6D frames matching {scene_glob}/rgb/*.png under {root}")

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[HouseCatFrameRecord]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> HouseCatFrameRecord:
        scene, index = self.items[i]
        lay = self.layout
        rgb = np.ascontiguousarray(read_png(lay.rgb_path(scene, index))[:, :, :3])
        h, w = rgb.shape[:2]
        depth = decode_depth_mm(read_png(lay.depth_path(scene, index))).astype(np.float32) / 1000.0
        mask = decode_mask(read_png(lay.instance_path(scene, index)))
        k = read_intrinsics_txt(lay.intrinsics_path(scene), w, h)
        frame = Frame(rgb=rgb, depth_m=depth, intrinsics=k, frame_id=f"{scene}/{index:06d}")
        gt = ground_truth_from_housecat_label(read_pickle(lay.label_path(scene, index)))
        return HouseCatFrameRecord(scene=scene, index=index, frame=frame, mask=mask, gt=gt,
                                   category_map=self.category_map)
