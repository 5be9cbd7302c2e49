"""Numbers of the ablation / debiasing studies (evaluation/studies.py) and the report tool, on
hand-made predictions whose yaw behaviour is known exactly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cleanpose_ros.core.geometry import axis_angle_to_rotation, viewer_relative_yaw_deg
from cleanpose_ros.core.types import CATEGORIES
from cleanpose_ros.evaluation.predictions import PredictionsWriter
from cleanpose_ros.evaluation.runner import evaluate_predictions_file
from cleanpose_ros.evaluation.studies import (debias_table, load_ablation_rows, wrap_deg, yaw_bias, yaw_pairs,
                                              yaw_pairs_by_model)
from cleanpose_ros.metrics.frame_record import FrameRecord, srt_and_normalised_size

UP = np.array([0.0, -1.0, 0.0])  # upright in the OpenCV camera frame
SIZE = np.array([0.12, 0.10, 0.09])
WINDOW = (-45.0, 45.0)


def upright(yaw_deg: float) -> np.ndarray:
    """Rotation of an upright object 1 m ahead of the camera with the given viewer-relative yaw."""
    front = axis_angle_to_rotation(UP, np.radians(yaw_deg)) @ np.array([0.0, 0.0, -1.0])
    return np.stack([front, UP, np.cross(front, UP)], axis=1)


def frames(true_yaws: np.ndarray, predict, category: str = "mug") -> list[FrameRecord]:
    """One frame per object; the prediction's yaw is predict(true yaw); a distractor bowl in each."""
    t = np.array([0.0, 0.0, 1.0])
    out = []
    for k, yaw in enumerate(true_yaws):
        g, _ = srt_and_normalised_size(upright(yaw), t, SIZE)
        p, _ = srt_and_normalised_size(upright(predict(yaw)), t, SIZE)
        bowl, _ = srt_and_normalised_size(np.eye(3), np.array([0.3, 0.0, 1.2]), SIZE)
        out.append(FrameRecord(
            frame_id=str(k), gt_class_ids=[CATEGORIES.index(category), CATEGORIES.index("bowl")],
            gt_srts=[g, bowl], gt_scales=[SIZE / np.linalg.norm(SIZE)] * 2, gt_handle_visible=[True, True],
            gt_instance_ids=[1, 2], pred_class_ids=[CATEGORIES.index("bowl"), CATEGORIES.index(category)],
            pred_scores=[1.0, 1.0], pred_srts=[bowl, p], pred_scales=[SIZE / np.linalg.norm(SIZE)] * 2,
            pred_instance_ids=[2, 1]))  # predictions in another order than the ground truth
    return out


TRUE_YAWS = np.linspace(-170.0, 170.0, 35)  # 10 deg apart, uniform


def collapse(yaw: float) -> float:
    """A fully biased model: every prediction clamped into the training window (1 deg inside its
    edges, so that round-off of the rotation matrices cannot put one on the wrong side)."""
    return float(np.clip(yaw, WINDOW[0] + 1.0, WINDOW[1] - 1.0))


def test_yaw_pairs_match_by_instance_id():
    gt, pred = yaw_pairs(frames(TRUE_YAWS, lambda y: y + 5.0), CATEGORIES.index("mug"))
    np.testing.assert_allclose(gt, TRUE_YAWS, atol=1e-9)
    np.testing.assert_allclose(wrap_deg(pred - gt), 5.0, atol=1e-9)
    assert yaw_pairs(frames(TRUE_YAWS, lambda y: y), CATEGORIES.index("camera"))[0].size == 0


def test_unbiased_and_fully_biased_models():
    gt_in = np.mean(np.abs(TRUE_YAWS) <= 45.0)  # 9 of 35
    exact = yaw_bias(TRUE_YAWS, TRUE_YAWS.copy(), WINDOW)
    assert exact.count == 35 and exact.bias == 0.0 and exact.histogram_tv == 0.0 and exact.error_all_deg == 0.0
    assert exact.in_window_gt == pytest.approx(gt_in)

    biased = yaw_bias(TRUE_YAWS, np.array([collapse(y) for y in TRUE_YAWS]), WINDOW)
    assert biased.in_window_pred == 1.0
    assert biased.bias == pytest.approx(1.0 - gt_in)
    outside = np.abs(TRUE_YAWS[np.abs(TRUE_YAWS) > 45.0])
    assert biased.count_outside == len(outside) == 26
    assert biased.error_outside_deg == pytest.approx(np.median(outside - 44.0))
    assert biased.error_inside_deg == 0.0  # the 9 true yaws in [-40, 40] are predicted exactly
    # the 23 objects outside the central bins [-60, 60) (60 itself opens the bin [60, 90)) moved into
    # those four 30-deg bins, which only gain: TV = 23 / 35
    assert biased.histogram_tv == pytest.approx(23 / 35)

    # a yaw error wraps around +-180 deg: 170 predicted as -170 is 20 deg off, not 340
    wrapped = yaw_bias(np.array([170.0]), np.array([-170.0]), WINDOW)
    assert wrapped.error_all_deg == pytest.approx(20.0)
    # NaN yaws (camera straight above) are dropped, an empty class gives NaN summaries
    assert yaw_bias(np.array([np.nan, 10.0]), np.array([0.0, 10.0]), WINDOW).count == 1
    assert np.isnan(yaw_bias(np.array([]), np.array([]), WINDOW).bias)


def test_debias_table_separates_models():
    records = {"biased": frames(TRUE_YAWS, collapse), "unbiased": frames(TRUE_YAWS, lambda y: y)}
    table = debias_table(yaw_pairs_by_model(records, CATEGORIES, ["mug"]), WINDOW)
    assert table["unbiased"]["mug"].bias == pytest.approx(0.0, abs=1e-9)
    assert table["biased"]["mug"].bias == pytest.approx(26 / 35)


def test_study_report_tool(tmp_path: Path):
    """The CLI end to end: predictions files -> metrics.json (cleanpose-evaluate's staged mode) ->
    report.md / report.json / both plots, with the numbers of the functions above."""
    from cleanpose_ros.tools.study_report import main

    folders = {}
    for name, predict in {"biased": collapse, "unbiased": lambda y: y}.items():
        folder = tmp_path / name
        with PredictionsWriter(folder / "predictions.jsonl", CATEGORIES, {"model": name}) as w:
            for rec in frames(TRUE_YAWS, predict):
                w.write(rec)
        evaluate_predictions_file(folder / "predictions.jsonl", folder, plots=False)
        folders[name] = folder
    rows = load_ablation_rows(folders)
    assert rows["unbiased"]["10deg5cm"] == pytest.approx(100.0)
    assert rows["biased"]["10deg5cm"] < rows["unbiased"]["10deg5cm"]

    out = tmp_path / "report"
    argv = [f"--ablation={n}={f}" for n, f in folders.items()] + [f"--debias={n}={f}" for n, f in folders.items()]
    assert main(argv + ["--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["ablation"]["unbiased"]["rotation_deg"] == pytest.approx(rows["unbiased"]["rotation_deg"])
    assert report["debias"]["models"]["biased"]["mug"]["bias"] == pytest.approx(26 / 35)
    assert report["debias"]["models"]["unbiased"]["camera"]["count"] == 0
    text = (out / "report.md").read_text()
    assert "| biased | mug | 35 |" in text and "+0.74" in text
    for png in ("ablation.png", "debias_yaw.png"):
        assert (out / png).stat().st_size > 10_000
    assert main(["--debias=x=" + str(tmp_path / "nowhere"), "--out", str(out)]) == 2


def test_orientation_row_reads_per_class_ap_and_median_rotation():
    from cleanpose_ros.evaluation.studies import orientation_row
    from cleanpose_ros.metrics.evaluator import NocsEvaluator
    from cleanpose_ros.tools.study_report import markdown_table

    from .frames import make_frame, scene_objects

    rng = np.random.default_rng(2)
    ev = NocsEvaluator()
    for k in range(3):  # the prediction equals the ground truth: AP 100, median error 0
        gts = scene_objects(rng, ["camera", "mug"])
        ev.process(make_frame(str(k), gts, [(c, r, t, s, 1.0) for c, r, t, s, _ in gts]))
    row = orientation_row(ev.evaluate(), ("camera", "mug"))
    assert row["camera 10deg5cm"] == pytest.approx(100.0) and row["mug median rot"] == pytest.approx(0.0, abs=1e-3)
    assert row["mean 10deg5cm"] == pytest.approx(100.0)
    table = markdown_table({"exact": row})
    assert table.splitlines()[2].startswith("| exact | 100.0 |")
