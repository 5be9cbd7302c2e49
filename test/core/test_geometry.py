"""Known-answer tests of core.geometry."""
import numpy as np
import pytest

from cleanpose_ros.core import geometry as g
from cleanpose_ros.core.types import CameraIntrinsics


K = CameraIntrinsics(fx=500.0, fy=400.0, cx=320.0, cy=240.0, width=640, height=480)


def test_backproject_known_pixels():
    depth = np.zeros((480, 640), np.float32)
    depth[240, 320] = 2.0  # principal point -> on the optical axis
    depth[250, 370] = 1.0  # 50 px right, 10 px down at 1 m -> (0.1, 0.025, 1)
    depth[0, 0] = np.nan  # NaN is never a point
    pts, pix = g.backproject(depth, K)
    order = np.argsort(pts[:, 2])
    np.testing.assert_allclose(pts[order], [[0.1, 0.025, 1.0], [0.0, 0.0, 2.0]], atol=1e-7)
    assert {tuple(p) for p in pix} == {(240, 320), (250, 370)}


def test_backproject_respects_mask_and_project_inverts():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 2.0, (480, 640)).astype(np.float32)
    mask = np.zeros((480, 640), bool)
    mask[100:110, 200:220] = True
    pts, pix = g.backproject(depth, K, mask)
    assert len(pts) == 200
    uv = g.project(pts, K)
    np.testing.assert_allclose(uv, pix[:, ::-1], atol=1e-3)


def test_srt_round_trip():
    rng = np.random.default_rng(1)
    r = g.random_rotation(rng)
    m = g.compose_srt(0.3, r, [0.1, -0.2, 0.9])
    s, r2, t = g.decompose_srt(m)
    assert s == pytest.approx(0.3)
    np.testing.assert_allclose(r2, r, atol=1e-12)
    np.testing.assert_allclose(t, [0.1, -0.2, 0.9])
    np.testing.assert_allclose(g.transform_points(m, [[0, 0, 0], [1, 0, 0]]), [t, t + 0.3 * r[:, 0]])


def test_quaternion_known_values_and_round_trip():
    # 90 deg about z: (0, 0, sin45, cos45)
    rz = g.axis_angle_to_rotation([0, 0, 1], np.pi / 2)
    np.testing.assert_allclose(rz @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(g.rotation_to_quaternion(rz), [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    # 180 deg about x exercises the non-positive-trace branch
    np.testing.assert_allclose(g.rotation_to_quaternion(np.diag([1.0, -1, -1])), [1, 0, 0, 0], atol=1e-12)
    rng = np.random.default_rng(2)
    for _ in range(200):
        r = g.random_rotation(rng)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(g.quaternion_to_rotation(g.rotation_to_quaternion(r)), r, atol=1e-10)


def test_rotation_angle_and_about_y():
    r = g.rotation_about_y(np.radians(30))
    assert g.rotation_angle_deg(r, np.eye(3)) == pytest.approx(30.0)
    np.testing.assert_allclose(r @ [0, 1, 0], [0, 1, 0])
    np.testing.assert_allclose(r, g.axis_angle_to_rotation([0, 1, 0], np.radians(30)), atol=1e-12)


def test_box_corners_and_edges():
    c = g.box_corners([2.0, 4.0, 6.0])
    assert c.shape == (8, 3)
    np.testing.assert_allclose(c.min(0), [-1, -2, -3])
    np.testing.assert_allclose(c.max(0), [1, 2, 3])
    assert len(g.BOX_EDGES) == 12
    lengths = sorted(np.linalg.norm(c[i] - c[j]) for i, j in g.BOX_EDGES)
    np.testing.assert_allclose(lengths, [2] * 4 + [4] * 4 + [6] * 4)
