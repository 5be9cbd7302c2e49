"""Known-answer tests of greedy matching and all-point interpolated AP."""
import numpy as np
import pytest

from cleanpose_ros.metrics.average_precision import average_precision
from cleanpose_ros.metrics.matching import match_by_iou, match_by_pose, score_order
from cleanpose_ros.metrics.reference import reference_ap


def test_ap_known_values():
    scores = np.array([0.9, 0.8, 0.7])
    assert average_precision(np.array([True, True, True]), scores, 3) == pytest.approx(1.0)
    # TP, FP, TP: precisions 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3 over recall steps of 1/2
    assert average_precision(np.array([True, False, True]), scores, 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # same ranking, half of the ground truth never found: recall steps of 1/4
    assert average_precision(np.array([True, False, True]), scores, 4) == pytest.approx(0.25 + 0.25 * 2 / 3)
    # the ranking is by score, not by input order: FP first
    assert average_precision(np.array([True, False]), np.array([0.1, 0.9]), 1) == pytest.approx(0.5)


def test_ap_edge_cases():
    assert np.isnan(average_precision(np.array([False, False]), np.array([0.5, 0.4]), 0))
    assert np.isnan(average_precision(np.zeros(0, bool), np.zeros(0), 0))
    assert average_precision(np.zeros(0, bool), np.zeros(0), 3) == 0.0
    assert average_precision(np.array([False]), np.array([1.0]), 3) == 0.0


def test_ap_vectorised_rows_match_reference():
    rng = np.random.default_rng(3)
    tp = rng.random((6, 40)) > 0.4
    scores = np.round(rng.random(40), 2)  # ties included
    for rule in ("input", "reference"):
        fast = average_precision(tp, scores, 30, tie_order=rule)
        slow = [reference_ap(row.tolist(), scores.tolist(), 30, rule) for row in tp]
        np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_score_order_is_descending_and_stable():
    np.testing.assert_array_equal(score_order(np.array([0.2, 0.9, 0.2, 0.5])), [1, 3, 0, 2])


def test_iou_matching_is_greedy_by_score_and_strict():
    # predictions already in score order; both prefer gt 0
    iou = np.array([[0.8, 0.3],
                    [0.9, 0.6]])
    pred, gt = match_by_iou(iou, np.array([0.25, 0.5, 0.8]))
    np.testing.assert_array_equal(pred[0], [0, 1])  # second prediction falls back to gt 1
    np.testing.assert_array_equal(gt[0], [0, 1])
    np.testing.assert_array_equal(pred[1], [0, 1])
    np.testing.assert_array_equal(pred[2], [-1, 0])  # 0.8 is not > 0.8; 0.9 is, and gt 0 is free
    np.testing.assert_array_equal(gt[2], [1, -1])


def test_iou_matching_nan_never_matches():
    iou = np.array([[np.nan, 0.4]])
    pred, gt = match_by_iou(iou, np.array([0.0, 0.5]))
    np.testing.assert_array_equal(pred[:, 0], [1, -1])
    np.testing.assert_array_equal(gt[0], [-1, 0])


def test_pose_matching_thresholds_are_inclusive_and_nan_fails():
    errors = np.array([[[5.0, 2.0], [1.0, 1.0]],
                       [[4.0, 1.0], [np.nan, 0.0]]])
    pred, gt = match_by_pose(errors, np.array([5.0, 10.0]), np.array([2.0, 5.0]))
    # prediction 0 prefers gt 1 (smaller error sum); prediction 1 then takes gt 0
    np.testing.assert_array_equal(pred[0, 0], [1, 0])
    np.testing.assert_array_equal(gt[0, 0], [1, 0])
    # a single gt with only a NaN error left: no match (NOCS would count it)
    pred_nan, _ = match_by_pose(np.array([[[np.nan, 0.0]]]), np.array([5.0]), np.array([2.0]))
    assert pred_nan[0, 0, 0] == -1
    # exactly on the threshold counts
    pred_edge, _ = match_by_pose(np.array([[[5.0, 2.0]]]), np.array([4.999, 5.0]), np.array([2.0]))
    np.testing.assert_array_equal(pred_edge[:, 0, 0], [-1, 0])


def test_matching_with_empty_sides():
    pred, gt = match_by_iou(np.zeros((0, 3)), np.array([0.1, 0.5]))
    assert pred.shape == (2, 0) and (gt == -1).all() and gt.shape == (2, 3)
    pred, gt = match_by_pose(np.zeros((2, 0, 2)), np.array([5.0]), np.array([2.0, 5.0]))
    assert pred.shape == (1, 2, 2) and (pred == -1).all() and gt.shape == (1, 2, 0)
