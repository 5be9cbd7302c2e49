"""The training dataset uses the runtime preprocessing: identical tensors for the same frame and seed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cleanpose_ros.core.config import PreprocessConfig
from cleanpose_ros.core.preprocess import preprocess_instances
from cleanpose_ros.data.augment import InputAugmentConfig, augment_points, augment_rgb
from cleanpose_ros.data.nocs_reader import NocsReader
from cleanpose_ros.data.training_dataset import SAMPLE_KEYS, NocsPoseDataset, iterate_frames


def test_dataset_path_equals_runtime_path(generated_tree) -> None:
    root, _ = generated_tree
    cfg = PreprocessConfig(hole_fill="fast")
    ds = NocsPoseDataset(root, "real", "test", cfg=cfg, seed=3)
    frame, instances, gt, rel = next(iterate_frames(root, "real", "test"))
    batch, rejected = preprocess_instances(frame, instances, cfg, seed=3)
    assert batch is not None and rejected == []
    rows = [i for i, (r, _) in enumerate(ds.index) if r == rel]
    assert len(rows) == len(batch) >= 1
    for b, i in enumerate(rows):
        s = ds[i]
        assert set(s) == set(SAMPLE_KEYS)
        assert torch.equal(s["rgb"], torch.from_numpy(batch.rgb[b]))
        assert torch.equal(s["points"], torch.from_numpy(batch.points[b]))
        assert torch.equal(s["choose"], torch.from_numpy(batch.choose[b]))
        assert int(s["category"]) == int(batch.category[b])
        np.testing.assert_allclose(s["gt_size"].numpy(), gt.sizes_m[b], rtol=1e-6)


def test_sample_ground_truth_is_consistent_with_points(generated_tree) -> None:
    """Observed points mapped into the canonical frame with the sample's GT lie near the model points."""
    root, _ = generated_tree
    ds = NocsPoseDataset(root, "real", "test")
    for i in range(len(ds)):
        s = {k: v.numpy().astype(np.float64) for k, v in ds[i].items()}
        scale = np.linalg.norm(s["gt_size"])
        canon = (s["points"] - s["gt_translation"]) @ s["gt_rotation"] / scale
        half = s["model_points"].max(axis=0)  # model points span the normalised box
        inside = np.all(np.abs(canon) <= half + 0.05, axis=1).mean()  # noisy sensor depth: 5% slack
        assert inside > 0.9, (i, inside)
        r = s["gt_rotation"]
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)


def test_epochs_and_augmentation_change_samples_reproducibly(generated_tree) -> None:
    root, _ = generated_tree
    ds = NocsPoseDataset(root, "real", "test", augment=InputAugmentConfig(), seed=1)
    ds.set_epoch(0)
    a0 = ds[0]
    ds.set_epoch(1)
    a1 = ds[0]
    ds.set_epoch(0)
    again = ds[0]
    assert torch.equal(a0["points"], again["points"]) and torch.equal(a0["rgb"], again["rgb"])
    assert not torch.equal(a0["points"], a1["points"])
    # point noise is clipped to 5 mm; colour jitter keeps the normalised range
    rng = np.random.default_rng(0)
    pts = np.zeros((5000, 3), np.float32)
    noisy = augment_points(pts, rng)
    assert np.abs(noisy).max() <= 0.005 + 1e-7 and 0.0007 < noisy.std() < 0.0013
    rgb = np.zeros((3, 8, 8), np.float32)
    out = augment_rgb(rgb, rng)
    assert out.shape == rgb.shape and np.isfinite(out).all()


def test_reader_valid_list_and_instances(generated_tree) -> None:
    root, _ = generated_tree
    reader = NocsReader(root, "real", "test")
    for rec in reader:
        assert all(inst.mask.sum() > 0 for inst in rec.instances)


def test_dataset_on_camera_fixture_and_segmentation_iterator(generated_tree) -> None:
    from pathlib import Path

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "nocs_mini"
    ds = NocsPoseDataset(fixture, "camera", "val")
    assert len(ds) == 3
    sample = ds[2]
    assert sample["model_points"].abs().max() <= 0.5 + 1e-6 and sample["model_points"].abs().max() > 0.2
    root, _ = generated_tree
    gt_frames = list(iterate_frames(root, "real", "test"))
    seg_frames = list(iterate_frames(root, "real", "test", use_segmentation=True))
    assert [r for *_, r in gt_frames] == [r for *_, r in seg_frames]
    for (_, gt_inst, _, _), (_, seg_inst, _, _) in zip(gt_frames, seg_frames):
        # segmentation pickles hold every visible instance; the label only those with enough depth
        assert {i.category for i in gt_inst} <= {i.category for i in seg_inst}


def test_label_index_cache_is_used_and_invalidated(generated_tree, monkeypatch) -> None:
    import cleanpose_ros.data.training_dataset as td

    root, _ = generated_tree
    monkeypatch.setattr(td, "INDEX_CACHE_MIN_FRAMES", 1)
    first = NocsPoseDataset(root, "real", "test")
    cache = root / "real" / "test_list.txt.instances.json"
    assert cache.is_file()
    # a cache entry is believed while the list file is unchanged ...
    import json

    data = json.loads(cache.read_text())
    data["instances"] = data["instances"][:1]
    cache.write_text(json.dumps(data))
    assert len(NocsPoseDataset(root, "real", "test")) == 1
    # ... and rebuilt when the list file changes
    lst = root / "real" / "test_list.txt"
    lst.write_text(lst.read_text())
    import os

    os.utime(lst, ns=(1, 1))
    assert len(NocsPoseDataset(root, "real", "test")) == len(first) > 1
    cache.unlink()


def test_category_and_yaw_subsets(generated_tree) -> None:
    """The pose-biased split of the debiasing study: exactly the instances of the chosen classes
    whose viewer-relative yaw lies in the window, computed here independently from the labels."""
    from pathlib import Path

    from cleanpose_ros.core.geometry import viewer_relative_yaw_deg
    from cleanpose_ros.core.types import CATEGORIES
    from cleanpose_ros.data.nocs_pickle import read_pickle

    root, _ = generated_tree
    full = NocsPoseDataset(root, "real", "test")
    yaw_classes = ("camera", "laptop", "mug")
    info = []
    for rel, j in full.index:
        label = read_pickle(Path(f"{full.reader.layout.prefix(rel)}_label.pkl"))
        name = CATEGORIES[int(label["class_ids"][j]) - 1]
        info.append((rel, j, name, viewer_relative_yaw_deg(np.asarray(label["rotations"][j]),
                                                           np.asarray(label["translations"][j]))))
    yaws = sorted(y for _, _, name, y in info if name in yaw_classes)
    assert len(yaws) >= 2, "the fixture must hold yaw-observable objects"
    window = (-180.0, float(np.median(yaws)))

    biased = NocsPoseDataset(root, "real", "test", use_categories=yaw_classes, yaw_range_deg=window)
    expected = [(rel, j) for rel, j, name, y in info if name in yaw_classes and window[0] <= y <= window[1]]
    assert biased.index == expected
    assert 0 < len(biased) < sum(name in yaw_classes for *_, name, _ in info)
    assert set(biased.present_categories) <= {CATEGORIES.index(c) for c in yaw_classes}

    # without a category subset, the yaw window leaves the symmetric classes alone
    windowed = NocsPoseDataset(root, "real", "test", yaw_range_deg=window)
    assert windowed.index == [(rel, j) for rel, j, name, y in info
                              if name not in yaw_classes or window[0] <= y <= window[1]]
    with pytest.raises(FileNotFoundError, match="no labelled instances"):
        NocsPoseDataset(root, "real", "test", use_categories=("mug",), yaw_range_deg=(179.0, 179.5))
