"""Confidence metrics (metrics/confidence.py): known answers for AUROC, reliability, risk-coverage,
and the instance-id pairing with symmetry-aware labels."""
import math

import numpy as np
import pytest

from cleanpose_ros.core.geometry import axis_angle_to_rotation
from cleanpose_ros.metrics.confidence import (auroc, expected_calibration_error, pair_by_instance_id, reliability,
                                              risk_coverage, summarise)
from cleanpose_ros.metrics.frame_record import FrameRecord


def test_auroc_known_answers():
    y = np.array([1, 1, 0, 0], bool)
    assert auroc(y, [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auroc(y, [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5  # ties count one half
    # positives 0.9 and 0.3, negatives 0.4 and 0.2: 0.9 beats both, 0.3 beats 0.2 only -> 3 of 4 pairs
    assert auroc(np.array([1, 0, 1, 0], bool), [0.9, 0.4, 0.3, 0.2]) == pytest.approx(3 / 4)
    assert math.isnan(auroc(np.ones(3, bool), [0.1, 0.2, 0.3]))


def test_reliability_ece_and_risk_coverage():
    y = np.array([1, 0, 1, 0, 0, 1], bool)
    c = np.array([0.95, 0.15, 0.9, 0.55, 0.45, 0.5])
    rows = reliability(y, c, bins=2)
    assert [(r["count"], r["observed"]) for r in rows] == [(2, 0.0), (4, 0.75)]
    assert rows[1]["confidence"] == pytest.approx((0.95 + 0.9 + 0.55 + 0.5) / 4)
    # ECE = (2 * |0.3 - 0| + 4 * |0.725 - 0.75|) / 6
    assert expected_calibration_error(y, c, bins=2) == pytest.approx((2 * 0.3 + 4 * 0.025) / 6)
    coverage, accuracy = risk_coverage(y, c)
    np.testing.assert_allclose(coverage, np.arange(1, 7) / 6)
    np.testing.assert_allclose(accuracy, [1, 1, 2 / 3, 3 / 4, 3 / 5, 3 / 6])  # order 0.95, 0.9, 0.55, 0.5, 0.45, 0.15


def _srt(rotation, t, scale=0.2):
    m = np.eye(4)
    m[:3, :3] = scale * rotation
    m[:3, 3] = t
    return m


def test_pairs_by_instance_id_with_symmetry_aware_labels():
    turn_y = axis_angle_to_rotation(np.array([0.0, 1.0, 0.0]), math.radians(90))
    turn_x = axis_angle_to_rotation(np.array([1.0, 0.0, 0.0]), math.radians(20))
    t = np.array([0.0, 0.0, 1.0])
    rec = FrameRecord(
        frame_id="f", gt_class_ids=[0, 5, 4], gt_srts=[_srt(np.eye(3), t)] * 3, gt_scales=[[0.5, 0.5, 0.7]] * 3,
        gt_handle_visible=[True, False, True], gt_instance_ids=[1, 2, 3],
        # bottle turned about y (free), handle-less mug turned about y (free), laptop tilted 20 deg,
        # plus a prediction whose id has no ground truth
        pred_class_ids=[0, 5, 4, 4], pred_scores=[1, 1, 1, 1],
        pred_srts=[_srt(turn_y, t), _srt(turn_y, t + [0.01, 0, 0]), _srt(turn_x, t), _srt(np.eye(3), t)],
        pred_scales=[[0.5, 0.5, 0.7]] * 4, pred_instance_ids=[1, 2, 3, 9],
        pred_confidences=[0.9, 0.8, 0.2, 0.5], pred_features=[[0.0] * 5] * 4)
    pairs = pair_by_instance_id([rec])
    assert list(pairs.categories) == ["bottle", "mug", "laptop"]
    np.testing.assert_allclose(pairs.rotation_deg, [0.0, 0.0, 20.0], atol=1e-6)
    np.testing.assert_allclose(pairs.translation_cm, [0.0, 1.0, 0.0], atol=1e-9)
    assert pairs.within.tolist() == [True, True, False] and pairs.features.shape == (3, 5)
    # per-axis errors for the covariance: the bottle's turn about its axis costs nothing; the mug is not
    # symmetric for the covariance (its handle direction is what a grasp needs), the laptop's tilt is about x
    np.testing.assert_allclose(pairs.rotation_vector, [[0, 0, 0], [0, math.radians(90), 0], [math.radians(20), 0, 0]],
                               atol=1e-9)
    np.testing.assert_allclose(pairs.translation_vector, [[0, 0, 0], [0.01, 0, 0], [0, 0, 0]], atol=1e-12)
    summary = summarise(pairs)
    assert summary["auroc"] == 1.0 and summary["objects"] == 3
    assert summary["top_fraction_within"]["0.50"] == 1.0 and summary["top_fraction_within"]["1.00"] == pytest.approx(2 / 3)
