"""Postprocessing: engine outputs -> PoseEstimate; unusable outputs are refused, never emitted."""
import numpy as np
import pytest

from cleanpose_ros.core.geometry import random_rotation, rotation_angle_deg
from cleanpose_ros.core.postprocess import (REJECT_DEGENERATE_ROTATION, REJECT_INVALID_SIZE, REJECT_NON_FINITE,
                                            decode_poses, orthonormalize_rotation)
from cleanpose_ros.core.types import CATEGORIES, ObjectBatch


def _batch(n: int) -> ObjectBatch:
    return ObjectBatch(
        rgb=np.zeros((n, 3, 8, 8), np.float32), points=np.zeros((n, 4, 3), np.float32),
        choose=np.zeros((n, 4), np.int64), category=np.arange(n, dtype=np.int64) % 6,
        instance_ids=tuple(range(10, 10 + n)), categories=tuple(CATEGORIES[i % 6] for i in range(n)),
        scores=tuple(0.5 + 0.1 * i for i in range(n)), crop_boxes=np.zeros((n, 4), np.int64))


def test_orthonormalize_repairs_noise_and_reflections():
    rng = np.random.default_rng(0)
    r = random_rotation(rng)
    noisy = r + rng.normal(scale=1e-3, size=(3, 3))
    fixed, sv = orthonormalize_rotation(noisy)
    np.testing.assert_allclose(fixed @ fixed.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(fixed) == pytest.approx(1.0, abs=1e-12)
    assert rotation_angle_deg(fixed, r) < 0.2 and np.abs(sv - 1).max() < 0.01
    reflected, _ = orthonormalize_rotation(r @ np.diag([1.0, 1.0, -1.0]))
    assert np.linalg.det(reflected) == pytest.approx(1.0, abs=1e-12)
    # an exact rotation comes back unchanged
    np.testing.assert_allclose(orthonormalize_rotation(r)[0], r, atol=1e-12)


def test_decode_refuses_non_finite_degenerate_and_negative_size_and_keeps_scores():
    rng = np.random.default_rng(1)
    n = 5
    rot = np.stack([random_rotation(rng) for _ in range(n)]).astype(np.float32)
    trans = rng.uniform(-0.2, 0.2, (n, 3)).astype(np.float32) + np.float32([0, 0, 1])
    size = rng.uniform(0.05, 0.2, (n, 3)).astype(np.float32)
    rot[1, 0, 0] = np.nan          # instance 11: NaN rotation
    trans[2, 2] = np.inf           # instance 12: inf translation
    rot[3] = 0.01 * rot[3]         # instance 13: near-zero matrix, not a rotation
    size[4, 1] = -0.01             # instance 14: negative extent
    poses, rejected = decode_poses({"rotation": rot, "translation": trans, "size": size}, _batch(n))
    assert dict(rejected) == {11: REJECT_NON_FINITE, 12: REJECT_NON_FINITE, 13: REJECT_DEGENERATE_ROTATION,
                              14: REJECT_INVALID_SIZE}
    assert len(poses) == 1
    p = poses[0]
    assert (p.instance_id, p.category, p.score) == (10, "bottle", 0.5)
    assert p.rotation.dtype == np.float64 and np.linalg.det(p.rotation) == pytest.approx(1.0, abs=1e-9)
    assert rotation_angle_deg(p.rotation, rot[0].astype(np.float64)) < 1e-3
    np.testing.assert_array_equal(p.translation, trans[0].astype(np.float64))
    np.testing.assert_array_equal(p.size, size[0].astype(np.float64))
    assert all(np.isfinite(q.srt).all() for q in poses)


def _keypoint_outputs(rng: np.random.Generator, n: int, k: int = 12):
    """Outputs whose keypoints are an exact similarity image (scale 0.25, translation t_true) of their
    NOCS coordinates under r_true, while the pose head says r_direct (30 degrees about z away), a
    translation 5 cm off and a box of diagonal 0.1 * sqrt(3) with proportions 1 : 2 : 3."""
    from cleanpose_ros.core.geometry import axis_angle_to_rotation

    r_true = np.stack([random_rotation(rng) for _ in range(n)])
    r_direct = np.stack([r @ axis_angle_to_rotation(np.array([0.0, 0.0, 1.0]), np.radians(30)) for r in r_true])
    kpt_nocs = rng.uniform(-0.4, 0.4, (n, k, 3))
    t_true = rng.uniform(-0.2, 0.2, (n, 3)) + [0, 0, 1]
    kpt_cam = 0.25 * np.einsum("nij,nkj->nki", r_true, kpt_nocs) + t_true[:, None, :]
    outputs = {"rotation": r_direct.astype(np.float32), "translation": (t_true + [0.05, 0, 0]).astype(np.float32),
               "size": np.tile(np.float32([0.05, 0.1, 0.15]), (n, 1)), "kpt_nocs": kpt_nocs.astype(np.float32),
               "kpt_cam": kpt_cam.astype(np.float32)}
    return outputs, r_true, t_true


def test_pose_sources_direct_fit_and_fused():
    from cleanpose_ros.core.postprocess import REJECT_DEGENERATE_FIT

    rng = np.random.default_rng(7)
    outputs, r_true, t_true = _keypoint_outputs(rng, 3)
    for source, expected_deg in (("direct", 30.0), ("nocs_fit", 0.0), ("fused", 15.0)):
        poses, rejected = decode_poses(outputs, _batch(3), source)
        assert not rejected and len(poses) == 3
        for p, r in zip(poses, r_true):
            assert rotation_angle_deg(p.rotation, r) == pytest.approx(expected_deg, abs=0.01), source
    proportions = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    # direct: translation and size are the head's, untouched
    for p, i in zip(decode_poses(outputs, _batch(3), "direct")[0], range(3)):
        np.testing.assert_array_equal(p.translation, outputs["translation"][i].astype(np.float64))
        np.testing.assert_array_equal(p.size, outputs["size"][i].astype(np.float64))
    # nocs_fit: the similarity itself places the box (centre t_true, diagonal = the fit scale 0.25)
    # and keeps the head's proportions
    for p, t in zip(decode_poses(outputs, _batch(3), "nocs_fit")[0], t_true):
        np.testing.assert_allclose(p.translation, t, atol=1e-6)
        np.testing.assert_allclose(p.size, 0.25 * proportions, atol=1e-6)
    # fused: the centroids of the keypoints fix the translation under the fused rotation
    for p, i in zip(decode_poses(outputs, _batch(3), "fused")[0], range(3)):
        kn, kc = outputs["kpt_nocs"][i].astype(np.float64), outputs["kpt_cam"][i].astype(np.float64)
        np.testing.assert_allclose(p.translation, kc.mean(0) - 0.25 * p.rotation @ kn.mean(0), atol=1e-6)
        np.testing.assert_allclose(p.size, 0.25 * proportions, atol=1e-6)
        assert np.linalg.norm(p.translation - t_true[i]) < 0.25 * np.linalg.norm(kn.mean(0)) * np.radians(15) + 1e-6
    # collapsed keypoints (all NOCS equal): no rotation can be fitted -> refused, never guessed
    outputs["kpt_nocs"][1] = 0.1
    poses, rejected = decode_poses(outputs, _batch(3), "nocs_fit")
    assert rejected == [(11, REJECT_DEGENERATE_FIT)] and [p.instance_id for p in poses] == [10, 12]


def test_fit_pose_source_needs_keypoint_outputs():
    rng = np.random.default_rng(8)
    outputs, _, _ = _keypoint_outputs(rng, 2)
    del outputs["kpt_nocs"], outputs["kpt_cam"]
    assert len(decode_poses(outputs, _batch(2), "direct")[0]) == 2
    with pytest.raises(ValueError, match="kpt_nocs"):
        decode_poses(outputs, _batch(2), "fused")
