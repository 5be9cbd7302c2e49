"""Readers on the committed fixtures (NOCS REAL275 + CAMERA layouts, HouseCat6D layout)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cleanpose_ros.core.config import PreprocessConfig
from cleanpose_ros.core.geometry import backproject
from cleanpose_ros.core.preprocess import preprocess_instances
from cleanpose_ros.core.types import CAMERA25_INTRINSICS, REAL275_INTRINSICS
from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset
from cleanpose_ros.data.housecat_reader import HouseCatReader
from cleanpose_ros.data.nocs_pickle import read_pickle
from cleanpose_ros.data.nocs_reader import NocsReader, read_png

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOCS_MINI = FIXTURES / "nocs_mini"


def _inside_fraction(points: np.ndarray, rotation, translation, size_m) -> float:
    scale = np.linalg.norm(size_m)
    canonical = (points.astype(np.float64) - translation) @ rotation / scale
    return float(np.all(np.abs(canonical) <= np.asarray(size_m) / scale / 2 + 0.03, axis=1).mean())


@pytest.mark.parametrize("source,split,intrinsics", [("real", "test", REAL275_INTRINSICS),
                                                     ("camera", "val", CAMERA25_INTRINSICS)])
def test_nocs_reader_on_fixture(source: str, split: str, intrinsics) -> None:
    reader = NocsReader(NOCS_MINI, source, split)
    assert reader.intrinsics == intrinsics
    for rec in reader:
        assert rec.gt is not None and len(rec.gt) >= 3
        batch, rejected = preprocess_instances(rec.frame, rec.instances, PreprocessConfig())
        assert rejected == [] and len(batch) == len(rec.gt)
        for inst, r, t, size in zip(rec.instances, rec.gt.rotations, rec.gt.translations, rec.gt.sizes_m):
            pts, _ = backproject(rec.frame.depth_m, rec.frame.intrinsics, inst.mask)
            # noisy sensor depth (mm quantised, edge jitter): most points still inside the box + 3%
            assert _inside_fraction(pts, r, t, size) > 0.95


def test_camera_layout_uses_composed_full_depth() -> None:
    reader = NocsReader(NOCS_MINI, "camera", "val")
    rel = reader.rels[0]
    composed = read_png(NOCS_MINI / "camera_full_depths" / f"{rel}_composed.png")
    own = read_png(NOCS_MINI / "camera" / f"{rel}_depth.png")
    assert composed.dtype == np.uint16 and own.ndim == 3  # CAMERA: 3-channel encoding in _depth.png
    rec = reader[0]
    np.testing.assert_array_equal(np.rint(rec.frame.depth_m * 1000).astype(np.uint16), composed)


def test_housecat_reader_on_fixture() -> None:
    reader = HouseCatReader(FIXTURES / "housecat_mini", "test_scene*")
    assert len(reader) == 1
    rec = reader[0]
    assert rec.frame.intrinsics.fx == pytest.approx(REAL275_INTRINSICS.fx, abs=1e-4)
    assert set(rec.gt.category_names) <= {"bottle", "can", "cup"}
    assert {i.category for i in rec.instances} <= {"bottle", "can", "mug"}
    for inst, r, t, size in zip(rec.instances, rec.gt.rotations, rec.gt.translations, rec.gt.sizes_m):
        pts, _ = backproject(rec.frame.depth_m, rec.frame.intrinsics, inst.mask)
        assert len(pts) > 64 and _inside_fraction(pts, r, t, size) > 0.95
    batch, rejected = preprocess_instances(rec.frame, rec.instances, PreprocessConfig())
    assert rejected == [] and len(batch) == len(rec.gt)


def test_generator_still_writes_the_fixture_labels(tmp_path: Path) -> None:
    """The README command reproduces the committed labels (poses are pure numpy, so exact)
    and nearly all mask pixels (rasterisation may differ across Mesa builds)."""
    cfg = GeneratorConfig(out=tmp_path, frames=2, seed=12, split="test", views_per_scene=2,
                          models_per_category=2, num_objects=(3, 5), num_distractors=(1, 3))
    generate_dataset(cfg, workers=1, progress=False)
    for rel in ("test/scene_1/0000", "test/scene_1/0001"):
        ours = read_pickle(tmp_path / "real" / f"{rel}_label.pkl")
        committed = read_pickle(NOCS_MINI / "real" / f"{rel}_label.pkl")
        assert ours["model_list"] == committed["model_list"]
        for key in ("class_ids", "instance_ids", "rotations", "translations", "scales", "sizes"):
            np.testing.assert_allclose(np.asarray(ours[key], float), np.asarray(committed[key], float), atol=1e-6)
        mask_a = read_png(tmp_path / "real" / f"{rel}_mask.png")
        mask_b = read_png(NOCS_MINI / "real" / f"{rel}_mask.png")
        assert (mask_a == mask_b).mean() > 0.999
