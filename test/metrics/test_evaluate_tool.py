"""End to end: cleanpose-evaluate on the committed NOCS fixture with a real (random-initialised) lite model.

Plumbing only (accuracy is tested with trained weights elsewhere): the tool must run the real
pipeline over every frame, write a predictions file whose ground truth is the reader's, resume
without re-running, and give identical metrics when re-evaluated from the file.
"""
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "test" / "fixtures" / "nocs_mini"
# untrained test weights: their garbage boxes would be refused by the plausibility check (fixture explains)
UNTRAINED = ["--params", str(ROOT / "test" / "fixtures" / "params_untrained.yaml")]

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    import torch

    from cleanpose_ros.model.checkpoint import save_checkpoint
    from test.engines.models import lite_test_model

    torch.set_num_threads(1)
    model = lite_test_model(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "lite.pt", model, model.config)


@pytest.mark.parametrize("source, split", [("real", "test"), ("camera", "val")])
def test_evaluate_tool_end_to_end_on_fixture(tmp_path, checkpoint, caplog, source, split):
    from cleanpose_ros.data.nocs_reader import NocsReader
    from cleanpose_ros.evaluation.predictions import read_predictions
    from cleanpose_ros.tools.evaluate import main

    reader = NocsReader(FIXTURE, source=source, split=split)
    out = tmp_path / "eval"
    args = ["--data", str(FIXTURE), "--source", source, "--split", split, "--weights", str(checkpoint),
            "--out", str(out), "--threads", "1", *UNTRAINED]
    assert main(args) == 0
    for name in ("predictions.jsonl", "metrics.json", "metrics.txt", "ap_vs_iou.png", "ap_vs_rotation.png",
                 "ap_vs_translation.png"):
        assert (out / name).stat().st_size > 0, name
    header, records = read_predictions(out / "predictions.jsonl")
    assert [r.frame_id for r in records] == reader.rels
    assert header["meta"]["weights"] == str(checkpoint)

    # the predictions file holds the reader's ground truth (metric box = s * scales)
    n_gt = 0
    for rec, rel in zip(records, reader.rels):
        gt = reader.read(rel).gt
        assert rec.num_gt == len(gt)
        n_gt += len(gt)
        s = np.cbrt(np.linalg.det(rec.gt_srts[:, :3, :3]))
        np.testing.assert_allclose(rec.gt_srts[:, :3, :3] / s[:, None, None], gt.rotations, atol=1e-6)
        np.testing.assert_allclose(rec.gt_srts[:, :3, 3], gt.translations, atol=1e-12)
        np.testing.assert_allclose(rec.gt_scales * s[:, None], gt.sizes_m, rtol=1e-6)  # float32 labels
        np.testing.assert_array_equal(rec.gt_class_ids, gt.class_ids - 1)
        assert rec.num_pred + len(rec.rejected) >= len(gt)  # every instance is predicted or refused
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_frames"] == len(reader.rels)
    assert sum(metrics["num_gt"].values()) == n_gt > 0
    assert sum(metrics["num_pred"].values()) == sum(r.num_pred for r in records) > 0
    for value in metrics["variants"]["corrected"]["summary"]["IoU25"].values():
        assert value is None or 0.0 <= value <= 100.0

    # rerun: everything is already there, nothing is predicted again, same file and metrics
    before = (out / "predictions.jsonl").read_bytes()
    caplog.clear()
    with caplog.at_level("INFO"):
        assert main(args) == 0
    assert (out / "predictions.jsonl").read_bytes() == before
    assert f"{len(reader.rels)} frames already done" in caplog.text

    # staged evaluation from the file alone gives the same numbers
    staged = tmp_path / "staged"
    assert main(["--predictions", str(out / "predictions.jsonl"), "--out", str(staged), "--no-plots"]) == 0
    again = json.loads((staged / "metrics.json").read_text())
    metrics.pop("source"), again.pop("source")
    assert again == metrics


def test_evaluate_tool_applies_the_node_parameters(tmp_path, checkpoint):
    """--params: the node's filter settings reach the pipeline (an impossible min_points refuses all)."""
    import yaml

    from cleanpose_ros.tools.evaluate import main

    params = yaml.safe_load((ROOT / "config" / "cleanpose.yaml").read_text())
    params["/**"]["ros__parameters"]["filters"]["min_points"] = 10**7
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "eval"
    assert main(["--data", str(FIXTURE), "--source", "real", "--split", "test", "--weights", str(checkpoint),
                 "--params", str(tmp_path / "params.yaml"), "--limit", "1", "--no-plots", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_frames"] == 1
    assert sum(metrics["num_pred"].values()) == 0
    assert metrics["num_rejected_instances"] == sum(metrics["num_gt"].values()) > 0
    assert metrics["source"]["meta"]["params"] == str(tmp_path / "params.yaml")


def test_evaluate_tool_with_segmentation_results(tmp_path, checkpoint):
    """--segmentation: instances come from results_*.pkl (masks, 1-based class ids, scores), the ground
    truth still from the tree; a dropped instance is a miss, a duplicate an extra prediction."""
    from cleanpose_ros.data.nocs_pickle import write_pickle
    from cleanpose_ros.data.nocs_reader import NocsReader
    from cleanpose_ros.evaluation.predictions import read_predictions
    from cleanpose_ros.tools.evaluate import main

    reader = NocsReader(FIXTURE, source="real", split="test")
    seg = tmp_path / "seg"
    seg.mkdir()
    expected = {}
    for rel in reader.rels:
        rec = reader.read(rel)
        insts = rec.instances[1:] + rec.instances[:1]  # the first instance appears last, twice below
        masks = [i.mask for i in insts] + [insts[-1].mask]
        class_ids = [rec.gt.categories.index(i.category) + 1 for i in insts] + [
            rec.gt.categories.index(insts[-1].category) + 1]
        scores = [0.9 - 0.1 * k for k in range(len(masks))]
        write_pickle(seg / f"results_{'_'.join(rel.split('/')[-3:])}.pkl", {
            "image_path": f"data/real/{rel}", "pred_masks": np.stack(masks, axis=2),
            "pred_class_ids": np.array(class_ids, np.int32), "pred_scores": np.array(scores, np.float32)})
        expected[rel] = (class_ids, scores)
    out = tmp_path / "eval"
    assert main(["--data", str(FIXTURE), "--weights", str(checkpoint), "--segmentation", str(seg),
                 "--no-plots", "--out", str(out), *UNTRAINED]) == 0
    _, records = read_predictions(out / "predictions.jsonl")
    for rec in records:
        class_ids, scores = expected[rec.frame_id]
        refused = {i for i, _ in rec.rejected}
        kept = [k for k in range(len(scores)) if k + 1 not in refused]
        assert rec.pred_instance_ids.tolist() == [k + 1 for k in kept]
        assert rec.pred_class_ids.tolist() == [class_ids[k] - 1 for k in kept]
        np.testing.assert_allclose(rec.pred_scores, [scores[k] for k in kept], rtol=1e-6)
        assert rec.num_gt == len(class_ids) - 1
    assert sum(r.num_pred for r in records) > 0


def test_evaluate_tool_refuses_missing_inputs(tmp_path, capsys):
    from cleanpose_ros.tools.evaluate import main

    assert main(["--predictions", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)]) == 2
    assert main(["--data", str(tmp_path), "--out", str(tmp_path)]) == 2  # shipped weights or frames missing
    assert main(["--data", str(tmp_path), "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path)]) == 2
    assert "--weights" in capsys.readouterr().err


def test_evaluate_tool_refuses_an_archive_where_a_folder_belongs_and_writes_nothing(tmp_path, capsys):
    """--segmentation given a zip once ended in a raw NotADirectoryError and left a half-written
    predictions file behind."""
    import zipfile

    from cleanpose_ros.tools.evaluate import main

    archive = tmp_path / "seg.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("results_test_scene_1_0000.pkl", b"")
    out = tmp_path / "eval"
    assert main(["--data", str(FIXTURE), "--segmentation", str(archive), "--out", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "--segmentation" in err and "must be a folder" in err
    assert not out.exists()
    assert main(["--data", str(archive), "--out", str(out)]) == 2 and not out.exists()
    assert main(["--data", str(FIXTURE), "--params", str(tmp_path), "--out", str(out)]) == 2 and not out.exists()
    from cleanpose_ros.tools.replay import main as replay

    assert replay(["--bag", str(archive), "--out", str(out)]) == 2 and not out.exists()
    assert "must be a rosbag2 folder" in capsys.readouterr().err


def test_calibrated_confidence_enters_scores_predictions_and_metrics(tmp_path, checkpoint):
    """cleanpose-calibrate-confidence fits a model on a split; cleanpose-evaluate with it publishes
    score = detection score (1.0 with ground-truth masks) x confidence, keeps confidence and features
    in the predictions file and reports the confidence metrics; `--confidence none` switches it off."""
    from cleanpose_ros.core.confidence import FEATURE_NAMES, ConfidenceModel, file_sha256
    from cleanpose_ros.evaluation.predictions import read_predictions
    from cleanpose_ros.tools.calibrate_confidence import main as calibrate
    from cleanpose_ros.tools.evaluate import main as evaluate

    model_path = tmp_path / "lite.confidence.json"
    assert calibrate(["--data", str(FIXTURE), "--weights", str(checkpoint), "--out", str(tmp_path / "calib"),
                      "--model-out", str(model_path), "--threads", "1", *UNTRAINED]) == 0
    model = ConfidenceModel.load(model_path)
    assert model.weights_sha256 == (file_sha256(checkpoint),) and model.calibration["objects"] > 0
    assert (tmp_path / "calib" / "reliability.png").is_file() and (tmp_path / "calib" / "risk_coverage.png").is_file()
    out = tmp_path / "eval"
    assert evaluate(["--data", str(FIXTURE), "--weights", str(checkpoint), "--out", str(out), "--threads", "1",
                     "--confidence", str(model_path), *UNTRAINED]) == 0
    _, records = read_predictions(out / "predictions.jsonl")
    assert sum(r.num_pred for r in records) > 0
    for rec in records:
        assert rec.pred_features.shape == (rec.num_pred, len(FEATURE_NAMES))
        np.testing.assert_allclose(rec.pred_scores, rec.pred_confidences, rtol=1e-12)
        assert ((rec.pred_confidences >= 0) & (rec.pred_confidences <= 1)).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["confidence"]["objects"] == sum(r.num_pred for r in records)
    assert (out / "reliability.png").is_file()
    off = tmp_path / "eval_off"
    assert evaluate(["--data", str(FIXTURE), "--weights", str(checkpoint), "--out", str(off), "--threads", "1",
                     "--confidence", "none", "--no-plots", *UNTRAINED]) == 0
    _, plain = read_predictions(off / "predictions.jsonl")
    assert all((r.pred_scores == 1.0).all() and len(r.pred_confidences) == 0 for r in plain)
    assert "confidence" not in json.loads((off / "metrics.json").read_text())
