"""The memory-mapped sample cache gives the uncached dataset's samples: same crop, points drawn from
the same preprocessing, same labels, the reconstruction mask of the loss; it resumes and rebuilds."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cleanpose_ros.core.config import PreprocessConfig
from cleanpose_ros.data.augment import InputAugmentConfig
from cleanpose_ros.data.sample_cache import CachedPoseDataset, build_sample_cache
from cleanpose_ros.data.training_dataset import SAMPLE_KEYS, NocsPoseDataset
from cleanpose_ros.model.losses import object_point_mask

PRE = PreprocessConfig(num_points=64, crop_size=32, hole_fill="none")
POOL = 128


@pytest.fixture(scope="module")
def cached(generated_tree, tmp_path_factory):
    root, _ = generated_tree
    ds = NocsPoseDataset(root, "real", "test", cfg=PRE, seed=3)
    out = build_sample_cache(ds, tmp_path_factory.mktemp("cache") / "c", pool_points=POOL, seed=9, workers=0,
                             progress=False)
    return root, ds, out


def test_cached_samples_match_the_preprocessing(cached) -> None:
    root, ds, out = cached
    cache = CachedPoseDataset(out, PRE.num_points, augment=None, seed=3)
    pool_ds = NocsPoseDataset(root, "real", "test", cfg=replace(PRE, num_points=POOL), seed=9)
    assert len(cache) == len(ds) >= 4
    for i in range(len(ds)):
        a, plain, pool = cache[i], ds[i], pool_ds.sample(i)
        assert set(a) == set(SAMPLE_KEYS) | {"object_mask"}
        for k in SAMPLE_KEYS:
            assert a[k].shape == plain[k].shape and a[k].dtype == plain[k].dtype, k
        torch.testing.assert_close(a["rgb"], plain["rgb"], atol=1e-5, rtol=0)  # uint8 storage is exact
        for k in ("category", "gt_rotation", "gt_translation", "gt_size", "model_points", "handle_visibility"):
            assert torch.equal(a[k], plain[k]), k
        # the 64 points are distinct members of the 128-point pool, drawn in pixel order with their pixels
        rows = {tuple(p): c for p, c in zip(pool["points"].tolist(), pool["choose"].tolist())}
        assert all(rows[tuple(p)] == c for p, c in zip(a["points"].tolist(), a["choose"].tolist()))
        assert len({tuple(p) for p in a["points"].tolist()}) == PRE.num_points or len(rows) < POOL
        # the cached mask is the loss's own object-point mask of those points
        expected = object_point_mask(a["points"][None], a["gt_rotation"][None], a["gt_translation"][None],
                                     a["gt_size"][None], a["model_points"][None], 0.1)[0]
        assert torch.equal(a["object_mask"], expected)


def test_epochs_draw_new_points_reproducibly_and_augment(cached) -> None:
    _, _, out = cached
    cache = CachedPoseDataset(out, PRE.num_points, augment=InputAugmentConfig(), seed=3)
    cache.set_epoch(1)
    first, again = cache[0], cache[0]
    cache.set_epoch(2)
    other = cache[0]
    assert torch.equal(first["points"], again["points"]) and torch.equal(first["rgb"], again["rgb"])
    assert not torch.equal(first["points"], other["points"])


def test_build_resumes_and_rebuilds_when_stale(cached, tmp_path) -> None:
    root, ds, out = cached
    ref = {k: np.load(out / f"{k}.npy") for k in ("rgb", "points", "choose", "object_mask")}
    # an interrupted build: half the objects not done yet, their rows zeroed
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in out.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    progress = np.load(copy / "progress.npy")
    progress[len(progress) // 2:] = 0
    np.save(copy / "progress.npy", progress)
    points = np.load(copy / "points.npy", mmap_mode="r+")
    points[len(progress) // 2:] = 0
    points.flush()
    del points
    build_sample_cache(ds, copy, pool_points=POOL, seed=9, workers=0, progress=False)
    for k, v in ref.items():
        np.testing.assert_array_equal(np.load(copy / f"{k}.npy"), v)
    # another pool size is another cache: rebuilt, not reused
    build_sample_cache(ds, copy, pool_points=POOL // 2, seed=9, workers=0, progress=False)
    assert np.load(copy / "points.npy").shape[1] == POOL // 2
