"""Path conventions of the NOCS data tree (REAL275 / CAMERA), shared by our writer and readers.

    <root>/<source>/<split>/<scene>/<XXXX>_{color,depth,mask,coord}.png, _meta.txt, _label.pkl
    <root>/<source>/<split>_list_all.txt, <split>_list.txt        one "<split>/<scene>/<XXXX>" a line
    <root>/camera_full_depths/<split>/<scene>/<XXXX>_composed.png  (CAMERA only)
    <root>/gts/<gts dir>/results_<...>.pkl                          per-frame ground truth
    <root>/obj_models/<source>_<split>.pkl                          {model name: (1024, 3) points}
    <root>/results/nocs_results/<source>_<split>/results_<split>_<scene>_<XXXX>.pkl   segmentation

`root` plays the role of the public `data/` folder; image paths inside pickles are written as
`data/<source>/<split>/<scene>/<XXXX>` like the originals.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NocsLayout:
    root: Path
    source: str = "real"  # "real" (REAL275-like tree), "camera" (CAMERA-like tree) or any other name
    split: str = "train"

    @property
    def is_camera(self) -> bool:
        return self.source == "camera"

    def scene_name(self, scene_index: int) -> str:
        """REAL275 numbers scenes scene_1, scene_2, ...; CAMERA uses 00000, 00001, ..."""
        return f"{scene_index:05d}" if self.is_camera else f"scene_{scene_index + 1}"

    def frame_rel(self, scene_index: int, view_index: int) -> str:
        return f"{self.split}/{self.scene_name(scene_index)}/{view_index:04d}"

    def prefix(self, rel: str) -> Path:
        """Path prefix of a frame's files (append '_color.png' etc.)."""
        return Path(self.root) / self.source / rel

    def image_path(self, rel: str) -> str:
        return f"data/{self.source}/{rel}"

    def full_depth_path(self, rel: str) -> Path:
        return Path(self.root) / "camera_full_depths" / f"{rel}_composed.png"

    @property
    def list_all_path(self) -> Path:
        return Path(self.root) / self.source / f"{self.split}_list_all.txt"

    @property
    def list_valid_path(self) -> Path:
        return Path(self.root) / self.source / f"{self.split}_list.txt"

    @property
    def gts_dir(self) -> Path:
        name = self.split if self.is_camera else f"{self.source}_{self.split}"
        return Path(self.root) / "gts" / name

    def gts_path(self, rel: str) -> Path:
        parts = rel.split("/")
        stem = "_".join(parts[-2:]) if self.is_camera else f"{self.source}_{'_'.join(parts[-3:])}"
        if self.is_camera:
            stem = f"{self.split}_{stem}"
        return self.gts_dir / f"results_{stem}.pkl"

    @property
    def obj_models_pkl(self) -> Path:
        return Path(self.root) / "obj_models" / f"{self.source}_{self.split}.pkl"

    @property
    def obj_models_dir(self) -> Path:
        return Path(self.root) / "obj_models" / f"{self.source}_{self.split}"

    @property
    def seg_results_dir(self) -> Path:
        return Path(self.root) / "results" / "nocs_results" / f"{self.source}_{self.split}"

    def seg_results_path(self, rel: str) -> Path:
        return self.seg_results_dir / f"results_{'_'.join(rel.split('/')[-3:])}.pkl"
