"""A regenerable, memory-mapped cache of preprocessed training objects, so a training step does not
decode three PNGs and back-project a depth crop per object.

What is cached, per object of a NocsPoseDataset (the node's preprocessing, no augmentation):
- the colour crop as uint8 (3, S, S): the ImageNet normalisation is an affine map of uint8 values,
  inverted exactly by rounding;
- a pool of `pool_points` back-projected points with their crop pixel indices, drawn once with the
  cache's seed (sorted, as preprocessing draws them);
- the labels (category, R, t, metric size, handle visibility) and an index into the model-point table;
- per pool point, whether it lies within `object_mask_distance` (NOCS units) of the object model in the
  ground-truth NOCS frame: the reconstruction loss's object-point mask (losses.object_point_mask). The
  in-network augmentation moves points and ground truth together, so the mask does not change with it;
  only the data augmentation's point noise (<= 5 mm) is not reflected, against a 0.1 threshold.
`CachedPoseDataset` then draws the model's `num_points` out of the pool per (seed, epoch, index)
without replacement, and applies the same colour / point augmentation as NocsPoseDataset. A uniform
subset of a uniform subset is a uniform subset, so for objects with >= pool_points valid pixels the
samples have the distribution of the uncached path; smaller objects repeat pixels as both paths do.

Layout of a cache folder: meta.json (what it was built from; a different source or preprocessing
means a rebuild), rgb.npy, points.npy, choose.npy (np.lib.format memmaps), labels.npz, models.npy, and
progress.npy (objects done; the build resumes from it). Built by `build_sample_cache` (tqdm progress,
both cores through a DataLoader); `cleanpose-train` builds it when a data source says `cache: true`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..core.config import to_dict
from ..core.errors import InputError
from ..core.preprocess import IMAGENET_MEAN, IMAGENET_STD
from .augment import InputAugmentConfig, augment_points, augment_rgb
from .training_dataset import NocsPoseDataset

logger = logging.getLogger(__name__)

CACHE_VERSION = 2
_GAIN = (1.0 / (255.0 * IMAGENET_STD)).astype(np.float32)[:, None, None]
_OFFSET = (-IMAGENET_MEAN / IMAGENET_STD).astype(np.float32)[:, None, None]
_ARRAYS = ("rgb", "points", "choose", "object_mask")


def _to_uint8(rgb_norm: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((rgb_norm - _OFFSET) / _GAIN), 0, 255).astype(np.uint8)


def _normalise(rgb_u8: np.ndarray) -> np.ndarray:
    return rgb_u8.astype(np.float32) * _GAIN + _OFFSET


def cache_key(dataset: NocsPoseDataset, pool_points: int, seed: int) -> dict[str, Any]:
    """What a cache depends on: the tree and its list file, the preprocessing and the pool."""
    list_path = dataset.reader.list_path
    stamp = [list_path.stat().st_size, list_path.stat().st_mtime_ns] if list_path is not None else None
    return {"version": CACHE_VERSION, "list": str(Path(list_path).resolve()) if list_path is not None else "",
            "list_stamp": stamp, "objects": len(dataset),
            "preprocess": to_dict(replace(dataset.cfg, num_points=pool_points)), "pool_points": pool_points,
            "seed": seed, "index_sha": hashlib.sha256(json.dumps(dataset.index).encode()).hexdigest()[:16]}


class _PoolSamples(Dataset):
    """Index -> (index, cached arrays or None if preprocessing refuses the object)."""

    def __init__(self, dataset: NocsPoseDataset, todo: np.ndarray, mask_distance: float) -> None:
        self.dataset, self.todo, self.mask_distance = dataset, todo, mask_distance

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, k: int) -> tuple[int, dict[str, np.ndarray] | None]:
        i = int(self.todo[k])
        try:
            s = self.dataset.sample(i)
        except InputError:
            return i, None
        # NOCS position of every point (R^T (p - t) / ||size||) against the model's points
        nocs = (s["points"] - s["gt_translation"]) @ s["gt_rotation"] / np.linalg.norm(s["gt_size"])
        model = s["model_points"]
        d2 = (nocs ** 2).sum(1)[:, None] - 2.0 * nocs @ model.T + (model ** 2).sum(1)[None, :]
        mask = d2.min(1) < self.mask_distance ** 2
        return i, {"rgb": _to_uint8(s["rgb"]), "points": s["points"], "choose": s["choose"].astype(np.int32),
                   "object_mask": mask}


def _collate(items: list) -> list:
    return items


def build_sample_cache(dataset: NocsPoseDataset, out_dir: str | Path, pool_points: int = 1024, seed: int = 0,
                       workers: int = 2, progress: bool = True, flush_every: int = 2048,
                       object_mask_distance: float = 0.1) -> Path:
    """Build (or finish) the cache of `dataset` in out_dir; returns out_dir. `dataset` must have no
    augmentation; its preprocessing config with num_points = pool_points is used."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pool_ds = copy.copy(dataset)  # same index and reader; no augmentation, pool-sized sampling
    pool_ds.cfg, pool_ds.augment, pool_ds.seed, pool_ds.epoch = replace(dataset.cfg, num_points=pool_points), None, seed, None
    key = {**cache_key(dataset, pool_points, seed), "object_mask_distance": object_mask_distance}
    meta_path = out / "meta.json"
    n, s = len(dataset), dataset.cfg.crop_size
    fresh = (not meta_path.is_file() or not (out / "progress.npy").is_file()
             or json.loads(meta_path.read_text()).get("key") != key)
    shapes = {"rgb": ((n, 3, s, s), np.uint8), "points": ((n, pool_points, 3), np.float32),
              "choose": ((n, pool_points), np.int32), "object_mask": ((n, pool_points), np.bool_)}
    if fresh:
        for f in out.glob("*.npy"):
            f.unlink()
        arrays = {k: np.lib.format.open_memmap(out / f"{k}.npy", mode="w+", dtype=dt, shape=shape)
                  for k, (shape, dt) in shapes.items()}
        done = np.zeros(n, dtype=np.int8)  # 0 todo, 1 cached, -1 refused by preprocessing
        _write_labels(dataset, out)
        _flush(arrays, done, out)
        meta_path.write_text(json.dumps({"key": key, "complete": False}, indent=1))
    else:
        arrays = {k: np.load(out / f"{k}.npy", mmap_mode="r+") for k in shapes}
        done = np.load(out / "progress.npy")
    todo = np.flatnonzero(done == 0)
    if len(todo):
        loader = DataLoader(_PoolSamples(pool_ds, todo, object_mask_distance), batch_size=64, num_workers=workers, collate_fn=_collate)
        bar = tqdm(total=n, initial=n - len(todo), desc=f"caching {out.name}",
                   unit="obj", disable=not progress, dynamic_ncols=True)
        since_flush = 0
        for items in loader:
            for i, item in items:
                if item is None:
                    done[i] = -1
                else:
                    for k in _ARRAYS:
                        arrays[k][i] = item[k]
                    done[i] = 1
            since_flush += len(items)
            bar.update(len(items))
            if since_flush >= flush_every:
                _flush(arrays, done, out)
                since_flush = 0
        bar.close()
    _flush(arrays, done, out)
    meta_path.write_text(json.dumps({"key": key, "complete": True, "refused": int((done < 0).sum())}, indent=1))
    logger.info("sample cache %s: %d objects (%d refused by preprocessing)", out, n, int((done < 0).sum()))
    return out


def _flush(arrays: dict[str, np.memmap], done: np.ndarray, out: Path) -> None:
    for a in arrays.values():
        a.flush()
    tmp = out / "progress.tmp.npy"
    np.save(tmp, done)
    tmp.replace(out / "progress.npy")  # atomic: a killed build resumes from the last flush


def _write_labels(dataset: NocsPoseDataset, out: Path) -> None:
    """Labels of every object from the label pickles (cheap: no image decoding)."""
    from .nocs_pickle import read_pickle
    from .nocs_reader import GroundTruth

    names: dict[str, int] = {}
    labels: dict[str, list] = {k: [] for k in ("category", "rotation", "translation", "size", "handle", "model")}
    current: dict[str, GroundTruth] = {}
    for rel, j in dataset.index:
        if rel not in current:  # the index lists a frame's objects together: keep one label at a time
            label = read_pickle(Path(f"{dataset.reader.layout.prefix(rel)}_label.pkl"))
            current = {rel: GroundTruth.from_label(label, dataset.categories)}
        gt = current[rel]
        labels["category"].append(int(gt.class_ids[j]) - 1)
        labels["rotation"].append(gt.rotations[j].astype(np.float32))
        labels["translation"].append(gt.translations[j].astype(np.float32))
        labels["size"].append(gt.sizes_m[j].astype(np.float32))
        labels["handle"].append(int(gt.handle_visibility[j]))
        name = gt.model_names[j] if j < len(gt.model_names) else ""
        labels["model"].append(names.setdefault(name, len(names)))
    np.savez(out / "labels.npz", **{k: np.asarray(v) for k, v in labels.items()})
    models = np.stack([dataset._model_points(name) for name in names]) if names else np.zeros((0, 1, 3), np.float32)
    np.save(out / "models.npy", models.astype(np.float32))


class CachedPoseDataset(Dataset):
    """NocsPoseDataset's samples (same keys, same augmentation) read from a sample cache."""

    def __init__(self, cache_dir: str | Path, num_points: int, augment: InputAugmentConfig | None = None,
                 seed: int = 0) -> None:
        d = Path(cache_dir)
        meta = json.loads((d / "meta.json").read_text())
        if not meta.get("complete"):
            raise FileNotFoundError(f"sample cache {d} is incomplete: build it with build_sample_cache")
        self.rgb = np.load(d / "rgb.npy", mmap_mode="r")
        self.points = np.load(d / "points.npy", mmap_mode="r")
        self.choose = np.load(d / "choose.npy", mmap_mode="r")
        self.object_mask = np.load(d / "object_mask.npy", mmap_mode="r")
        labels = np.load(d / "labels.npz")
        self.labels = {k: labels[k] for k in labels.files}
        self.models = np.load(d / "models.npy")
        self.valid = np.flatnonzero(np.load(d / "progress.npy") > 0)
        if self.points.shape[1] < num_points:
            raise ValueError(f"cache pool of {self.points.shape[1]} points < num_points {num_points}")
        self.num_points, self.augment, self.seed = num_points, augment, int(seed)
        self.epoch: int | None = None
        self.present_categories: tuple[int, ...] = tuple(sorted(set(self.labels["category"][self.valid].tolist())))

    def __len__(self) -> int:
        return len(self.labels["category"])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # a refused object falls through to the next usable one, as in NocsPoseDataset
        i = int(self.valid[np.searchsorted(self.valid, index) % len(self.valid)])
        # (seed, epoch, index) as NocsPoseDataset; without an epoch, the seed's own draw per index
        epoch_key = [] if self.epoch is None else [self.epoch]
        seed = int(np.random.SeedSequence([self.seed, *epoch_key, index]).generate_state(1)[0])
        rng = np.random.default_rng(seed)
        pool = self.points.shape[1]
        pick = np.sort(rng.choice(pool, self.num_points, replace=False))
        rgb = _normalise(np.asarray(self.rgb[i]))
        points = np.asarray(self.points[i][pick])
        if self.augment is not None:
            aug_rng = np.random.default_rng(np.random.SeedSequence([seed, 99, index]))
            rgb = augment_rgb(rgb, aug_rng, self.augment)
            points = augment_points(points, aug_rng, self.augment)
        lab = self.labels
        sample = {"rgb": rgb, "points": points, "choose": np.asarray(self.choose[i][pick]).astype(np.int64),
                  "category": np.int64(lab["category"][i]), "gt_rotation": lab["rotation"][i],
                  "gt_translation": lab["translation"][i], "gt_size": lab["size"][i],
                  "model_points": self.models[lab["model"][i]], "handle_visibility": np.int64(lab["handle"][i]),
                  "object_mask": np.asarray(self.object_mask[i][pick])}
        # np.ascontiguousarray would turn the 0-d scalars into shape (1,): only arrays go through it
        return {k: torch.from_numpy(np.ascontiguousarray(v) if np.ndim(v) else np.asarray(v)) for k, v in sample.items()}
