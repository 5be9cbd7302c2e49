"""Known-answer tests of the pose errors and both 3D IoU variants."""
import numpy as np
import pytest

from cleanpose_ros.core.geometry import axis_angle_to_rotation, random_rotation, rotation_about_y
from cleanpose_ros.metrics.frame_record import srt_and_normalised_size
from cleanpose_ros.metrics.iou3d import iou_3d, pairwise_iou_3d
from cleanpose_ros.metrics.pose_errors import (pairwise_pose_errors, rotation_error_deg, size_error_cm,
                                               translation_error_cm, uses_y_symmetry)
from cleanpose_ros.metrics.reference import reference_iou

X, Y, Z = np.eye(3)


def _srt(rotation=np.eye(3), translation=(0.0, 0.0, 1.0), size=(0.1, 0.1, 0.1)):
    return srt_and_normalised_size(rotation, translation, size)


def test_rotation_error_known_angles_and_symmetry():
    r7 = axis_angle_to_rotation(X, np.radians(7.0))
    assert rotation_error_deg(r7, np.eye(3)) == pytest.approx(7.0, abs=1e-9)
    # a tilt of the y axis counts for symmetric objects too
    assert rotation_error_deg(r7, np.eye(3), symmetric=True) == pytest.approx(7.0, abs=1e-9)
    ry = rotation_about_y(np.radians(40.0))
    assert rotation_error_deg(ry, np.eye(3)) == pytest.approx(40.0, abs=1e-9)
    assert rotation_error_deg(ry, np.eye(3), symmetric=True) == pytest.approx(0.0, abs=1e-6)
    # perfect symmetric prediction: 0, not the NaN the unclipped reference code gives
    rng = np.random.default_rng(1)
    r = random_rotation(rng)
    assert np.isfinite(rotation_error_deg(r, r, symmetric=True))
    assert rotation_error_deg(r, r, symmetric=True) < 1e-4
    # upside down: 180 deg either way
    flip = axis_angle_to_rotation(Z, np.pi)
    assert rotation_error_deg(flip, np.eye(3), symmetric=True) == pytest.approx(180.0, abs=1e-6)


def test_translation_and_size_errors_in_cm():
    assert translation_error_cm([0.03, 0.0, 1.0], [0.0, 0.0, 1.0]) == pytest.approx(3.0)
    assert translation_error_cm([0.03, 0.04, 1.0], [0.0, 0.0, 1.0]) == pytest.approx(5.0)
    assert size_error_cm([0.13, 0.2, 0.1], [0.1, 0.2, 0.14]) == pytest.approx(5.0)
    assert np.isnan(translation_error_cm([np.nan, 0, 1], [0, 0, 1]))


def test_symmetry_rule_per_category():
    for cat in ("bottle", "bowl", "can"):
        assert uses_y_symmetry(cat, True) and uses_y_symmetry(cat, False)
    for cat in ("camera", "laptop"):
        assert not uses_y_symmetry(cat, True) and not uses_y_symmetry(cat, False)
    assert not uses_y_symmetry("mug", True)
    assert uses_y_symmetry("mug", False)


def test_pairwise_pose_errors_uses_scale_free_rotation():
    # the scale folded into sR must not leak into the angle (R = sR / cbrt(det))
    pred = _srt(axis_angle_to_rotation(X, np.radians(7.0)), (0.03, 0.0, 1.0), (0.3, 0.2, 0.1))[0]
    gt = _srt(np.eye(3), (0.0, 0.0, 1.0), (0.1, 0.1, 0.1))[0]
    err = pairwise_pose_errors(pred[None], gt[None], np.array([False]))
    assert err.shape == (1, 1, 2)
    np.testing.assert_allclose(err[0, 0], [7.0, 3.0], atol=1e-9)


def test_iou_identical_boxes_is_one_in_both_variants():
    srt, scales = _srt(axis_angle_to_rotation([1, 2, 3], 0.7), (0.1, -0.05, 0.8), (0.1, 0.2, 0.15))
    for variant in ("corrected", "legacy"):
        assert iou_3d(srt, srt, scales, scales, variant) == pytest.approx(1.0, abs=1e-12)


def test_iou_half_overlapping_cubes_is_one_third():
    a, s = _srt(translation=(0.0, 0.0, 1.0), size=(0.1, 0.1, 0.1))
    b, _ = _srt(translation=(0.05, 0.0, 1.0), size=(0.1, 0.1, 0.1))
    assert iou_3d(a, b, s, s, "corrected") == pytest.approx(1.0 / 3.0, abs=1e-12)
    # a quarter along two axes: inter 0.05*0.05*0.1, union 2*0.001 - inter
    c, _ = _srt(translation=(0.05, 0.05, 1.0), size=(0.1, 0.1, 0.1))
    assert iou_3d(a, c, s, s, "corrected") == pytest.approx(0.25 / 1.75, abs=1e-12)


def test_corrected_iou_uses_camera_axis_aligned_extents():
    # a unit cube turned 45 deg about z spans sqrt(2) x sqrt(2) x 1 and contains the unturned cube
    turned, s = _srt(axis_angle_to_rotation(Z, np.pi / 4), (0, 0, 1), (1.0, 1.0, 1.0))
    straight, _ = _srt(np.eye(3), (0, 0, 1), (1.0, 1.0, 1.0))
    assert iou_3d(turned, straight, s, s, "corrected") == pytest.approx(1.0 / 2.0, abs=1e-9)


def test_legacy_iou_differs_where_the_axis_bug_matters():
    s = _srt()[1]
    a = _srt(translation=(0.0, 0.0, 1.0))[0]
    far = _srt(translation=(1.0, 0.0, 1.0))[0]  # 90 cm away: disjoint boxes
    assert iou_3d(a, far, s, s, "corrected") == 0.0
    assert iou_3d(a, far, s, s, "legacy") > 0.05  # the bug scores disjoint boxes
    # a 4 cm shift along y changes neither the min (x or y) nor the max (z) of most corners
    shifted = _srt(translation=(0.0, 0.04, 1.0))[0]
    corrected = iou_3d(a, shifted, s, s, "corrected")
    legacy = iou_3d(a, shifted, s, s, "legacy")
    assert corrected == pytest.approx(0.06 / 0.14, abs=1e-12)
    assert abs(legacy - corrected) > 0.1
    # both agree on two identical axis-aligned cubes
    assert iou_3d(a, a, s, s, "legacy") == iou_3d(a, a, s, s, "corrected") == pytest.approx(1.0)


def test_symmetric_iou_takes_best_of_20_rotations_about_y():
    gt, scales = _srt(np.eye(3), (0, 0, 1), (0.1, 0.3, 0.2))  # x != z: rotation about y changes the box
    pred = _srt(rotation_about_y(np.radians(54.0)), (0, 0, 1), (0.1, 0.3, 0.2))[0]  # 3 x 18 deg
    assert iou_3d(pred, gt, scales, scales, "corrected", symmetric=True) == pytest.approx(1.0, abs=1e-9)
    assert iou_3d(pred, gt, scales, scales, "corrected", symmetric=False) < 0.8
    # a tilt is not forgiven
    tilt = _srt(axis_angle_to_rotation(X, np.radians(54.0)), (0, 0, 1), (0.1, 0.3, 0.2))[0]
    assert iou_3d(tilt, gt, scales, scales, "corrected", symmetric=True) < 0.8


def test_nan_pose_gives_nan_iou():
    s = _srt()[1]
    bad = _srt()[0]
    bad[0, 3] = np.nan
    for sym in (False, True):
        assert np.isnan(iou_3d(bad, _srt()[0], s, s, "corrected", symmetric=sym))


@pytest.mark.parametrize("variant", ["corrected", "legacy"])
def test_pairwise_iou_matches_slow_reference(variant):
    rng = np.random.default_rng(7)
    preds = [_srt(random_rotation(rng), rng.normal(0, 0.03, 3) + [0, 0, 1], rng.uniform(0.05, 0.2, 3))
             for _ in range(5)]
    gts = [_srt(random_rotation(rng), rng.normal(0, 0.03, 3) + [0, 0, 1], rng.uniform(0.05, 0.2, 3))
           for _ in range(4)]
    sym = np.array([True, False, True, False])
    table = pairwise_iou_3d([p[0] for p in preds], [g[0] for g in gts], [p[1] for p in preds],
                            [g[1] for g in gts], sym, variant)
    expected = np.array([[reference_iou(p[0], g[0], p[1], g[1], variant, bool(sj)) for g, sj in zip(gts, sym)]
                         for p in preds])
    assert expected.max() > 0.05  # the case exercises overlaps, not only zeros
    np.testing.assert_allclose(table, expected, rtol=1e-9, atol=1e-12)
