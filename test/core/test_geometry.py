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


def test_viewer_relative_yaw_known_answers():
    """Object 1 m in front of the camera (camera looks along +z), upright: up = -y of the camera
    (OpenCV y points down). Yaw 0 = front (+x canonical) pointing back at the camera (-z)."""
    up = np.array([0.0, -1.0, 0.0])
    t = np.array([0.0, 0.0, 1.0])
    for yaw in (0.0, 30.0, 90.0, -120.0, 179.0):
        # the front, turned by `yaw` counter-clockwise about `up` from the direction to the camera
        front = g.axis_angle_to_rotation(up, np.radians(yaw)) @ np.array([0.0, 0.0, -1.0])
        r = np.stack([front, up, np.cross(front, up)], axis=1)
        assert np.isclose(np.linalg.det(r), 1.0)
        assert g.viewer_relative_yaw_deg(r, t) == pytest.approx(yaw, abs=1e-9)
        # the same object seen off-axis and from above keeps its yaw relative to the line of sight
        shift = np.array([0.4, -0.3, 0.0])
        sight0, sight1 = np.array([0.0, 0.0, -1.0]), np.array([-0.4, 0.0, -1.0]) / np.hypot(0.4, 1.0)
        turn = g.axis_angle_to_rotation(up, np.arctan2(np.cross(sight0, sight1) @ up, sight0 @ sight1))
        assert g.viewer_relative_yaw_deg(turn @ r, t + shift) == pytest.approx(yaw, abs=1e-6)
    # tilting the whole scene (camera looking down 40 deg) does not change the yaw
    tilt = g.axis_angle_to_rotation(np.array([1.0, 0.0, 0.0]), np.radians(40.0))
    front = g.axis_angle_to_rotation(up, np.radians(60.0)) @ np.array([0.0, 0.0, -1.0])
    r = np.stack([front, up, np.cross(front, up)], axis=1)
    assert g.viewer_relative_yaw_deg(tilt @ r, tilt @ t) == pytest.approx(60.0, abs=1e-9)
    # camera straight above the object: no yaw
    assert np.isnan(g.viewer_relative_yaw_deg(np.eye(3), np.array([0.0, -1.0, 0.0])))
