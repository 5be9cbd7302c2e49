"""HouseCat6D on-disk layout (as the public HouseCat6D loaders of AG-Pose-style code read it).

    <root>/<scene>/rgb/NNNNNN.png               colour
    <root>/<scene>/depth/NNNNNN.png             uint16 millimetres (0 = missing)
    <root>/<scene>/instance/NNNNNN.png          instance ids (colour PNGs: the red channel)
    <root>/<scene>/labels/NNNNNN_label.pkl      class_ids (1-based, HOUSECAT_CATEGORIES), instance_ids,
                                                bboxes [y1, x1, y2, x2), rotations, translations,
                                                gt_scales = METRIC box extents (m)
    <root>/<scene>/intrinsics.txt               3x3 K (np.loadtxt)
    <root>/<scene>/meta.txt                     one line per object
Training scenes are named scene01, scene02, ...; test scenes test_scene1, test_scene2, ...
The real images are 1096 x 852 (polarisation camera); the reader takes the size from the files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: HouseCat6D classes in class-id order (class id = index + 1).
HOUSECAT_CATEGORIES: tuple[str, ...] = ("box", "bottle", "can", "cup", "remote", "teapot", "cutlery", "glass",
                                        "shoe", "tube")
#: HouseCat6D classes that are rotationally symmetric about y in its evaluation code.
HOUSECAT_SYMMETRIC: frozenset[str] = frozenset({"bottle", "can", "glass"})
#: HouseCat6D class -> NOCS category with the same canonical convention (a cup has a handle: mug).
HOUSECAT_TO_NOCS: dict[str, str] = {"bottle": "bottle", "can": "can", "cup": "mug"}


@dataclass(frozen=True)
class HouseCatLayout:
    root: Path

    def scene_dir(self, scene: str) -> Path:
        return Path(self.root) / scene

    def rgb_path(self, scene: str, index: int) -> Path:
        return self.scene_dir(scene) / "rgb" / f"{index:06d}.png"

    def depth_path(self, scene: str, index: int) -> Path:
        return self.scene_dir(scene) / "depth" / f"{index:06d}.png"

    def instance_path(self, scene: str, index: int) -> Path:
        return self.scene_dir(scene) / "instance" / f"{index:06d}.png"

    def label_path(self, scene: str, index: int) -> Path:
        return self.scene_dir(scene) / "labels" / f"{index:06d}_label.pkl"

    def intrinsics_path(self, scene: str) -> Path:
        return self.scene_dir(scene) / "intrinsics.txt"

    def meta_path(self, scene: str) -> Path:
        return self.scene_dir(scene) / "meta.txt"
