"""The shipped lite weights through the pipeline, both engines, on committed fixture frames.

Skipped only while weights/cleanpose_lite.pt does not exist. Bounds come from the model card
(weights/README.md, "Bounds the tests hold the weights to"): on the 13 fixture objects the shipped
step-44000 weights measured 100 % within 10 deg / 5 cm, median translation 0.39 cm and median size error
0.57 cm; the test allows slack for a re-trained checkpoint: >= 60 %, <= 2 cm, <= 3 cm.
Keep these in step with the model card when it changes.
"""
import numpy as np
import pytest

from cleanpose_ros.core.pipeline import Pipeline
from cleanpose_ros.engines.factory import build_pipeline
from cleanpose_ros.verification.parity import compare_pipelines
from cleanpose_ros.metrics.pose_errors import rotation_error_deg, size_error_cm, translation_error_cm, uses_y_symmetry
from test.engines.conftest import ROOT

WEIGHTS = ROOT / "weights" / "cleanpose_lite.pt"
SHIPPED_ONNX = ROOT / "weights" / "cleanpose_lite.onnx"
MIN_RATE_10DEG_5CM = 0.6
MAX_MEDIAN_TRANSLATION_CM = 2.0
MAX_MEDIAN_SIZE_CM = 3.0

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="weights/cleanpose_lite.pt is not trained yet")


@pytest.fixture(scope="module")
def frames(nocs_tree):
    from cleanpose_ros.verification.fixture_frames import nocs_fixture_frames

    return list(_with_gt(nocs_tree, nocs_fixture_frames(nocs_tree, max_frames=8)))


def _with_gt(root, named_frames):
    from cleanpose_ros.data.nocs_reader import NocsReader

    readers = {}
    for name, frame, instances in named_frames:
        source, rel = name.split("/", 1)
        reader = readers.setdefault(source, NocsReader(root, source=source, split=rel.split("/")[0]))
        yield name, frame, instances, reader.read(rel).gt


def test_shipped_weights_meet_the_model_card_bounds(frames):
    pipeline = build_pipeline(WEIGHTS, engine="torch", device="cpu", num_threads=1)
    rot, trans, size = [], [], []
    for _, frame, instances, gt in frames:
        poses = {p.instance_id: p for p in pipeline(frame, instances).poses}
        for k, instance_id in enumerate(gt.instance_ids.tolist()):
            pose = poses.get(instance_id)
            if pose is None:  # a refused ground-truth object counts as a miss
                rot.append(np.inf), trans.append(np.inf), size.append(np.inf)
                continue
            category = gt.category_names[k]
            symmetric = uses_y_symmetry(category, bool(gt.handle_visibility[k]))
            rot.append(float(rotation_error_deg(pose.rotation, gt.rotations[k], symmetric)))
            trans.append(float(translation_error_cm(pose.translation, gt.translations[k])))
            size.append(float(size_error_cm(pose.size, gt.sizes_m[k])))
    rot, trans, size = map(np.asarray, (rot, trans, size))
    rate = float(np.mean((rot <= 10) & (trans <= 5)))
    print(f"{len(rot)} objects: 10deg5cm {rate:.2f}, median rot {np.median(rot):.1f} deg, "
          f"trans {np.median(trans):.2f} cm, size {np.median(size):.2f} cm")
    assert len(rot) >= 5
    assert rate >= MIN_RATE_10DEG_5CM
    assert np.median(trans) <= MAX_MEDIAN_TRANSLATION_CM and np.median(size) <= MAX_MEDIAN_SIZE_CM


def test_the_shipped_onnx_file_is_the_export_of_the_shipped_checkpoint():
    """weights/cleanpose_lite.manifest.json names both shipped files by SHA-256: re-shipping one without
    the other (scripts/ship_weights.sh does both) fails here."""
    from cleanpose_ros.core.confidence import load_for_weights
    from cleanpose_ros.engines.paired_onnx import mismatch, read_manifest

    manifest = read_manifest(WEIGHTS)
    assert manifest is not None, "weights/cleanpose_lite.manifest.json is missing (cleanpose-export --pair)"
    assert manifest.onnx == SHIPPED_ONNX.name and manifest.confounder_seed is None
    assert mismatch(WEIGHTS, manifest) is None
    # the calibrated confidence model names both files, so the .onnx given directly keeps its confidence
    assert load_for_weights(SHIPPED_ONNX) is not None and load_for_weights(WEIGHTS) is not None


def test_shipped_weights_give_the_same_poses_with_onnxruntime(frames, tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANPOSE_CACHE_DIR", str(tmp_path))
    torch_pipe = build_pipeline(WEIGHTS, engine="torch", num_threads=1)
    onnx_pipe = build_pipeline(WEIGHTS, engine="onnx", num_threads=1)
    # the onnx engine runs the shipped file (the manifest matches), exporting nothing at start-up
    assert onnx_pipe.engine.path == SHIPPED_ONNX and not any(tmp_path.iterdir())
    # Distances are computed in a fixed elementwise order (model/pointnet2_ops.square_distance), so both
    # engines make the same discrete selections: on the 442 held-out objects (docs/runtime.md, parity)
    # p99 5.3e-5 deg / 3.5e-4 mm / 8.9e-5 mm, max 2.9e-3 deg / 4.8e-4 mm / 2.0e-3 mm (before: max 0.36 deg /
    # 0.40 mm / 1.41 mm from flipped neighbour selections). Every object keeps the 0.1 bounds; the 99th
    # percentile of the committed fixture's objects is held to 1e-3 (a few times the held-out p99).
    report = compare_pipelines(torch_pipe, onnx_pipe, [(n, f, i) for n, f, i, _ in frames])
    for key in ("rotation_deg", "translation_mm", "size_mm"):
        p99 = float(np.percentile([getattr(d, key) for d in report.differences], 99))
        assert p99 <= 1e-3, (key, p99)
    print(report.table())
    assert report.passed, report.table()
