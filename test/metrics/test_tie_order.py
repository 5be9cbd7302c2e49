"""Average precision that does not depend on the order of tied scores (known answers), and the
reference NOCS ordering reproduced exactly."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from cleanpose_ros.metrics.average_precision import average_precision, ranking, tie_break_orders
from cleanpose_ros.metrics.evaluator import NocsEvaluator

from .frames import make_frame, scene_objects


def test_two_tied_predictions_known_answer():
    # one ground truth; ranks [TP, FP] -> AP 1, [FP, TP] -> precision 1/2 at recall 1 -> AP 0.5
    tp, scores = np.array([False, True]), np.array([1.0, 1.0])
    assert average_precision(tp, scores, 1, tie_order="input") == pytest.approx(0.5)
    assert average_precision(tp, scores, 1, tie_order="expected") == pytest.approx(0.75, abs=1e-15)


def test_three_tied_known_answer_by_hand():
    # tp = one TP among three tied, num_gt = 1: the TP at rank r gives AP 1/r; mean (1 + 1/2 + 1/3) / 3
    tp, scores = np.array([False, False, True]), np.ones(3)
    assert average_precision(tp, scores, 1) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3, abs=1e-15)
    # two TPs, two GT, one FP: orders TTF -> 1; TFT -> 1/2 * 1 + 1/2 * 2/3; FTT -> the envelope lifts
    # the precision at recall 1/2 from 1/2 to 2/3: 1/2 * 2/3 + 1/2 * 2/3. Each pattern is 2 of the 6 orders.
    tp = np.array([True, True, False])
    by_hand = (1.0 + (0.5 + 0.5 * 2 / 3) + 2 / 3) / 3
    assert average_precision(tp, scores, 2) == pytest.approx(by_hand, abs=1e-15)


def test_expected_ap_does_not_depend_on_input_order():
    rng = np.random.default_rng(0)
    tp = rng.random((4, 9)) > 0.5
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.1, 0.5])
    base = average_precision(tp, scores, 7)
    for _ in range(5):
        perm = rng.permutation(9)
        np.testing.assert_allclose(average_precision(tp[:, perm], scores[perm], 7), base, atol=1e-12)
    # while "input" does depend on it (this example is chosen so it does)
    inputs = {tuple(np.round(average_precision(tp[:, p], scores[p], 7, tie_order="input"), 9))
              for p in (rng.permutation(9) for _ in range(20))}
    assert len(inputs) > 1


def test_exhaustive_orders_are_all_distinct_and_complete():
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0, 1.0])
    orders, exact = tie_break_orders(scores, permutations=1000)
    assert exact and len(orders) == 3 * 2 * 1 * 2  # 3! * 2!
    assert len({tuple(o) for o in orders}) == len(orders)
    assert all(o[0] == 0 and set(o[1:4]) == {1, 2, 3} and set(o[4:]) == {4, 5} for o in orders)


def test_sampled_expectation_close_to_exact_and_seeded():
    # 8 tied predictions (8! = 40320 orders > 1000): sampled; the exact mean is known by enumeration
    tp, scores = np.array([True, False, True, False, False, True, False, False]), np.ones(8)
    exact = np.mean([average_precision(tp[list(p)], np.arange(8, 0, -1.0), 5)
                     for p in itertools.permutations(range(8))])
    sampled = average_precision(tp, scores, 5, permutations=1000, seed=0)
    assert sampled == pytest.approx(exact, abs=0.01)
    assert average_precision(tp, scores, 5, permutations=1000, seed=0) == sampled  # same seed, same value
    assert tie_break_orders(scores, 1000)[1] is False


def test_reference_rule_is_the_reversed_argsort():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5])
    np.testing.assert_array_equal(ranking(scores, "reference"), np.argsort(scores)[::-1])
    np.testing.assert_array_equal(ranking(scores, "input"), [1, 0, 2, 4, 3])
    # reversed argsort puts the LAST of equal scores first (insertion sort for short arrays is stable)
    assert list(ranking(scores, "reference")[:4]) == [1, 4, 2, 0]


def test_evaluator_expected_rule_is_frame_order_independent():
    rng = np.random.default_rng(5)
    frames = []
    for k in range(6):  # every score 1.0, as with ground-truth masks; some poses good, some poor
        gts = scene_objects(rng, ["camera", "mug", "laptop"])
        preds = [(c, r @ (np.eye(3) if rng.random() < 0.5 else _rot_y(rng.uniform(8, 40))), t, s, 1.0)
                 for c, r, t, s, _ in gts]
        frames.append(make_frame(str(k), gts, preds))

    def summary(order, rule):
        ev = NocsEvaluator(tie_order=rule)
        for i in order:
            ev.process(frames[i])
        result = ev.evaluate()
        assert result["ap_tie_order"] == rule
        return result["variants"]["corrected"]["summary"]["10deg5cm"]

    forward, backward = summary(range(6), "expected"), summary(range(5, -1, -1), "expected")
    present = ["camera", "laptop", "mug", "mean"]
    for key in present:
        assert forward[key] == pytest.approx(backward[key], abs=1e-9)
    f_in, b_in = summary(range(6), "input"), summary(range(5, -1, -1), "input")
    assert any(abs(f_in[k] - b_in[k]) > 1.0 for k in present)  # file order moved "input" APs


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
