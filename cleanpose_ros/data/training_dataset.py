"""Training and evaluation access to a NOCS-format folder (ours or the real REAL275 / CAMERA).

`NocsPoseDataset` (torch Dataset): one sample per annotated object instance, built with the SAME
`core.preprocess.preprocess_instance` that the node runs, so training and deployment inputs match.
Sample keys (torch tensors):

    rgb              (3, S, S) float32  ImageNet-normalised crop
    points           (N, 3)    float32  camera frame, metres (not centred)
    choose           (N,)      int64    pixel index in the S x S crop grid
    category         ()        int64    0-based index into `categories`
    gt_rotation      (3, 3)    float32  canonical -> camera
    gt_translation   (3,)      float32  metres
    gt_size          (3,)      float32  metric box extents along canonical x, y, z
    model_points     (M, 3)    float32  canonical NOCS points of the instance's model (obj_models pkl)
    handle_visibility ()       int64

`iterate_frames` yields (frame, instances, ground truth) for evaluation.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..core.config import PreprocessConfig
from ..core.geometry import viewer_relative_yaw_deg
from ..core.errors import InputError
from ..core.preprocess import preprocess_instance
from ..core.types import CATEGORIES, YAW_OBSERVABLE_CATEGORIES, Frame, Instance
from .augment import InputAugmentConfig, augment_points, augment_rgb
from .nocs_pickle import read_pickle
from .nocs_reader import GroundTruth, NocsReader

logger = logging.getLogger(__name__)

#: trees with at least this many frames get a label-index cache file next to their list file
INDEX_CACHE_MIN_FRAMES = 2000

SAMPLE_KEYS = ("rgb", "points", "choose", "category", "gt_rotation", "gt_translation", "gt_size",
               "model_points", "handle_visibility")


class NocsPoseDataset(Dataset):
    """Per-object training samples of one <source>/<split> of a NOCS tree.

    seed / set_epoch: with no epoch set, point sampling uses `seed` exactly like the runtime path
    (`preprocess_instances(..., seed=seed)`); after `set_epoch(e)` every (epoch, index) draws its own
    sample, still reproducibly. `augment` (an InputAugmentConfig) enables the training augmentation.
    """

    def __init__(self, root: str | Path, source: str = "real", split: str = "train",
                 cfg: PreprocessConfig = PreprocessConfig(), augment: InputAugmentConfig | None = None,
                 categories: Sequence[str] = CATEGORIES, seed: int = 0, num_model_points: int = 1024,
                 use_categories: Sequence[str] | None = None, yaw_range_deg: tuple[float, float] | None = None,
                 yaw_categories: Sequence[str] = YAW_OBSERVABLE_CATEGORIES) -> None:
        self.reader = NocsReader(root, source, split, categories=categories)
        self.cfg = cfg
        self.augment = augment
        self.categories = tuple(categories)
        self.seed = int(seed)
        self.epoch: int | None = None
        self.num_model_points = num_model_points
        self._last_record = None
        models_pkl = self.reader.layout.obj_models_pkl
        self.models: dict[str, np.ndarray] = read_pickle(models_pkl) if models_pkl.is_file() else {}
        if not self.models:
            logger.warning("no object models at %s: model_points will be zeros", models_pkl)
        # index: (frame rel, position in the label) of every labelled instance of a known category
        wanted = set(self.categories if use_categories is None else use_categories)
        entries = [(rel, j, cid) for rel, j, cid in self._label_index()
                   if 1 <= cid <= len(self.categories) and self.categories[cid - 1] in wanted]
        if yaw_range_deg is not None:
            entries = self._within_yaw(entries, yaw_range_deg, set(yaw_categories))
        self.index: list[tuple[str, int]] = [(rel, j) for rel, j, _ in entries]
        #: 0-based category indices this dataset yields samples of
        self.present_categories: tuple[int, ...] = tuple(sorted({cid - 1 for _, _, cid in entries}))
        if not self.index:
            raise FileNotFoundError(f"no labelled instances in {root}/{source}/{split} "
                                    f"(categories {sorted(wanted)}, yaw range {yaw_range_deg})")
        logger.info("%s/%s: %d frames, %d object samples", source, split, len(self.reader), len(self.index))

    def _label_index(self) -> list[tuple[str, int, int]]:
        """(rel, position, class id) of every labelled instance, from the label pickles.

        Reading every label takes ~0.3 ms a frame (minutes for CAMERA's 275k frames), so the result
        is cached next to the list file as `<list>.instances.json`, valid while the list file's
        size and mtime are unchanged (the generator rewrites the list at the end of every run).
        Small trees (< INDEX_CACHE_MIN_FRAMES, e.g. the committed fixtures) are never cached.
        """
        list_path = self.reader.list_path
        stamp = None
        cache = None
        if list_path is not None and len(self.reader.rels) >= INDEX_CACHE_MIN_FRAMES:
            st = list_path.stat()
            stamp = [st.st_size, st.st_mtime_ns]
            cache = list_path.with_name(list_path.name + ".instances.json")
            if cache.is_file():
                try:
                    data = json.loads(cache.read_text())
                    if data.get("list_stamp") == stamp:
                        return [(str(r), int(j), int(c)) for r, j, c in data["instances"]]
                except (ValueError, KeyError, TypeError):
                    logger.warning("ignoring unreadable index cache %s", cache)
        entries: list[tuple[str, int, int]] = []
        for rel in tqdm(self.reader.rels, desc="indexing labels", unit="frame", disable=len(self.reader.rels) < INDEX_CACHE_MIN_FRAMES):
            label_path = Path(f"{self.reader.layout.prefix(rel)}_label.pkl")
            if label_path.is_file():
                for j, cid in enumerate(np.asarray(read_pickle(label_path)["class_ids"]).tolist()):
                    entries.append((rel, j, int(cid)))
        if cache is not None:
            try:
                cache.write_text(json.dumps({"list_stamp": stamp, "instances": entries}))
            except OSError:  # read-only dataset folder: just no cache
                logger.info("cannot write the index cache %s", cache)
        return entries

    def _within_yaw(self, entries: list[tuple[str, int, int]], yaw_range_deg: tuple[float, float],
                    yaw_categories: set[str]) -> list[tuple[str, int, int]]:
        """The entries of `yaw_categories` whose viewer-relative yaw lies in the range; others pass."""
        lo, hi = yaw_range_deg
        labels: dict[str, dict] = {}
        kept: list[tuple[str, int, int]] = []
        for rel, j, cid in entries:
            if self.categories[cid - 1] not in yaw_categories:
                kept.append((rel, j, cid))
                continue
            if rel not in labels:
                labels[rel] = read_pickle(Path(f"{self.reader.layout.prefix(rel)}_label.pkl"))
            label = labels[rel]
            yaw = viewer_relative_yaw_deg(np.asarray(label["rotations"][j]), np.asarray(label["translations"][j]))
            if lo <= yaw <= hi:  # NaN (camera straight above) compares False: dropped
                kept.append((rel, j, cid))
        logger.info("yaw range %s: kept %d of %d instances", yaw_range_deg, len(kept), len(entries))
        return kept

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _sample_seed(self, index: int) -> int:
        if self.epoch is None:
            return self.seed
        return int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])

    def _model_points(self, name: str) -> np.ndarray:
        pts = self.models.get(name)
        if pts is None:
            return np.zeros((self.num_model_points, 3), dtype=np.float32)
        pts = np.asarray(pts, dtype=np.float32)
        if len(pts) != self.num_model_points:
            pick = np.linspace(0, len(pts) - 1, self.num_model_points).astype(np.int64)
            pts = pts[pick]
        return pts

    def sample(self, index: int) -> dict[str, np.ndarray]:
        """The numpy sample of one index; raises InputError if preprocessing refuses the instance."""
        rel, j = self.index[index]
        # a frame's objects are consecutive in the index: sequential readers (the sample cache's build)
        # decode each frame once instead of once per object
        if self._last_record is not None and self._last_record.rel == rel:
            record = self._last_record
        else:
            record = self._last_record = self.reader.read(rel)
        gt = record.gt
        if gt is None:  # the index only lists annotated frames: the file changed under the dataset
            raise ValueError(f"{rel}: the frame has no ground truth (its _label.pkl is gone or empty); "
                             "rebuild the dataset index")
        inst = Instance(instance_id=int(gt.instance_ids[j]), category=self.categories[int(gt.class_ids[j]) - 1],
                        mask=record.mask == gt.instance_ids[j])
        seed = self._sample_seed(index)
        prep = preprocess_instance(record.frame, inst, self.cfg, self.categories, seed=seed)
        rgb, points = prep.rgb, prep.points
        if self.augment is not None:
            rng = np.random.default_rng(np.random.SeedSequence([seed, 99, index]))
            rgb = augment_rgb(rgb, rng, self.augment)
            points = augment_points(points, rng, self.augment)
        name = gt.model_names[j] if j < len(gt.model_names) else ""
        return {
            "rgb": rgb, "points": points, "choose": prep.choose,
            "category": np.int64(prep.category),
            "gt_rotation": gt.rotations[j].astype(np.float32),
            "gt_translation": gt.translations[j].astype(np.float32),
            "gt_size": gt.sizes_m[j].astype(np.float32),
            "model_points": self._model_points(name),
            "handle_visibility": np.int64(gt.handle_visibility[j]),
        }

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # a labelled instance can still be refused (e.g. outliers); fall through to the next one
        for attempt in range(len(self.index)):
            i = (index + attempt) % len(self.index)
            try:
                sample = self.sample(i)
                break
            except InputError as e:
                logger.debug("sample %d refused (%s); trying the next", i, e.reason)
        else:
            raise RuntimeError("no usable instance in the dataset")
        return {k: torch.from_numpy(np.asarray(v)) for k, v in sample.items()}


def iterate_frames(root: str | Path, source: str = "real", split: str = "test", use_segmentation: bool = False,
                   segmentation_dir: str | Path | None = None, categories: Sequence[str] = CATEGORIES
                   ) -> Iterator[tuple[Frame, list[Instance], GroundTruth | None, str]]:
    """(frame, instances, ground truth, rel) per frame; instances from GT masks or segmentation pickles."""
    reader = NocsReader(root, source, split, categories=categories)
    for rel in reader.rels:
        record = reader.read(rel)
        instances = reader.segmentation(rel, segmentation_dir) if use_segmentation else record.instances
        yield record.frame, instances, record.gt, rel
