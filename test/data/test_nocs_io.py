"""Writer + readers: on-disk format details, label pickle round trip, ground truth, segmentation pickles."""
from __future__ import annotations

import pickle
import pickletools
from pathlib import Path

import numpy as np

from cleanpose_ros.core.types import CATEGORIES
from cleanpose_ros.data.nocs_pickle import dumps_compatible, read_pickle
from cleanpose_ros.data.nocs_reader import NocsReader, decode_depth_mm, load_segmentation, read_png
from cleanpose_ros.data.nocs_writer import encode_coord

LABEL_KEYS = {"class_ids", "bboxes", "instance_ids", "model_list", "sizes", "scales", "rotations", "translations",
              "poses", "handle_visibility"}


def test_tree_layout_and_file_formats(generated_tree) -> None:
    root, _ = generated_tree
    scene = root / "real/test/scene_1"
    for suffix in ("color.png", "depth.png", "mask.png", "coord.png", "meta.txt", "label.pkl"):
        assert (scene / f"0000_{suffix}").is_file(), suffix
    assert (root / "real/test_list_all.txt").read_text().splitlines() == [
        "test/scene_1/0000", "test/scene_1/0001", "test/scene_2/0000", "test/scene_2/0001"]
    assert (root / "gts/real_test/results_real_test_scene_1_0000.pkl").is_file()
    assert (root / "results/nocs_results/real_test/results_test_scene_2_0001.pkl").is_file()
    depth = read_png(scene / "0000_depth.png")
    assert depth.dtype == np.uint16 and depth.ndim == 2 and 300 < np.median(depth[depth > 0]) < 2500
    mask = read_png(scene / "0000_mask.png")
    assert mask.dtype == np.uint8 and (mask == 255).any()
    meta = (scene / "0000_meta.txt").read_text()
    assert meta.endswith("\n")
    ids = [int(line.split(" ")[0]) for line in meta.splitlines()]
    assert set(np.unique(mask).tolist()) - {255} <= set(ids)


def test_label_pickle_round_trip_and_layout(generated_tree) -> None:
    root, _ = generated_tree
    path = root / "real/test/scene_1/0000_label.pkl"
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x03"  # protocol 3
    globals_ = [arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"]
    assert globals_ and all(not g.startswith("numpy._core") for g in globals_)
    label = read_pickle(path)
    assert set(label) == LABEL_KEYS
    n = len(label["class_ids"])
    assert n >= 1
    assert label["class_ids"].dtype == np.int64 and label["bboxes"].dtype == np.int32
    assert label["sizes"].dtype == np.float64 and label["scales"].dtype == np.float32
    assert label["rotations"].shape == (n, 3, 3) and label["poses"].shape == (n, 4, 4)
    # poses = [[s R, t], [0 0 0 1]], R orthonormal, sizes diag ~ 1
    for i in range(n):
        r = label["rotations"][i].astype(np.float64)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)
        np.testing.assert_allclose(label["poses"][i][:3, :3], label["scales"][i] * r, atol=1e-5)
        np.testing.assert_allclose(label["poses"][i][:3, 3], label["translations"][i], atol=1e-6)
        assert 0.97 < np.linalg.norm(label["sizes"][i]) <= 1.0001
    # the bytes decode to the same structure again (dump -> load -> dump is stable)
    again = pickle.loads(dumps_compatible(label))
    for k in LABEL_KEYS:
        np.testing.assert_array_equal(np.asarray(again[k]), np.asarray(label[k]))


def test_reader_returns_core_types_matching_files(generated_tree) -> None:
    root, _ = generated_tree
    reader = NocsReader(root, "real", "test")
    assert len(reader) == 4
    rec = reader[0]
    assert rec.frame.rgb.shape == (480, 640, 3) and rec.frame.depth_m.dtype == np.float32
    assert rec.gt is not None and len(rec.instances) == len(rec.gt)
    gts = reader.ground_truth_file(rec.rel)
    assert gts["image_path"] == "data/real/test/scene_1/0000"
    # ground truth of the label and of the gts file agree (the gts may hold more, low-depth instances)
    for j, inst_id in enumerate(rec.gt.instance_ids):
        k = list(np.unique(rec.mask[rec.mask != 255])).index(inst_id)
        np.testing.assert_allclose(gts["gt_RTs"][k], rec.gt.srt(j), atol=1e-5)
    # decoded coord map on object pixels lies in the canonical box of the object
    for inst, size in zip(rec.instances, rec.gt.sizes_m / rec.gt.scales[:, None]):
        nocs = rec.nocs[inst.mask]
        assert np.all(np.abs(nocs) <= size / 2 + 2.0 / 255)
    models = reader.obj_models()
    assert all(name in models and models[name].shape == (1024, 3) for name in rec.gt.model_names)


def test_segmentation_pickle_reads_back_as_instances(generated_tree) -> None:
    root, _ = generated_tree
    reader = NocsReader(root, "real", "test")
    rel = reader.rels[1]
    insts = reader.segmentation(rel)
    res = read_pickle(root / f"results/nocs_results/real_test/results_{'_'.join(rel.split('/')[-3:])}.pkl")
    assert res["pred_masks"].dtype == bool and res["pred_masks"].shape[:2] == (480, 640)
    assert len(insts) == res["pred_masks"].shape[2] == len(res["gt_class_ids"])
    for inst, cid in zip(insts, res["pred_class_ids"]):
        assert inst.category == CATEGORIES[cid - 1] and inst.mask.any()


def test_unknown_class_ids_in_segmentation_become_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "results_x.pkl"
    path.write_bytes(dumps_compatible({"pred_masks": np.ones((4, 5, 2), bool), "pred_class_ids": np.array([2, 9]),
                                       "pred_scores": np.array([0.5, 0.9], np.float32)}))
    insts = load_segmentation(path)
    assert [i.category for i in insts] == ["bowl", "class_9"] and insts[1].score == np.float32(0.9)


def test_coord_encoding_and_camera_depth_decoding() -> None:
    nocs = np.array([[[0.0, 0.5, 1.0], [0.2, 0.4, 0.6]]], dtype=np.float32)
    enc = encode_coord(nocs, np.array([[1, 255]], np.uint8))
    np.testing.assert_array_equal(enc[0, 0], [0, 128, 0])  # z = 1 -> blue 0
    np.testing.assert_array_equal(enc[0, 1], [0, 0, 0])  # background
    three = np.zeros((1, 2, 3), np.uint8)
    three[0, :, 1] = [3, 0]
    three[0, :, 0] = [232, 7]  # low byte in the file's red channel (BGR index 2)
    np.testing.assert_array_equal(decode_depth_mm(three), [[1000, 7]])
