"""PointNet++ ops against brute-force numpy references."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cleanpose_ros.model.pointnet2_ops import (ball_query, farthest_point_sample, gather_points, square_distance,
                                               three_interpolate, three_nn)


def _cloud(b: int, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((b, n, 3)) * 0.1).astype(np.float32)


def _fps_reference(xyz: np.ndarray, npoint: int) -> np.ndarray:
    chosen = [0]
    dist = np.full(len(xyz), np.inf)
    for _ in range(npoint - 1):
        dist = np.minimum(dist, ((xyz - xyz[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(np.argmax(dist)))
    return np.array(chosen)


def test_square_distance_matches_brute_force() -> None:
    a, b = _cloud(2, 40, 0), _cloud(2, 70, 1)
    ref = ((a[:, :, None] - b[:, None]) ** 2).sum(-1)
    got = square_distance(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.abs(got - ref).max() < 1e-7


def test_farthest_point_sampling_matches_reference_and_nests() -> None:
    xyz = _cloud(3, 200, 2)
    got = farthest_point_sample(torch.from_numpy(xyz), 64).numpy()
    for i in range(3):
        np.testing.assert_array_equal(got[i], _fps_reference(xyz[i].astype(np.float64), 64))
        # FPS of the first 64 FPS points gives the first 16: deeper levels can use prefixes.
        nested = _fps_reference(xyz[i][got[i]].astype(np.float64), 16)
        np.testing.assert_array_equal(got[i][nested], got[i][:16])


@pytest.mark.parametrize("radius,nsample", [(0.02, 8), (0.05, 16), (0.2, 32)])
def test_ball_query_matches_reference(radius: float, nsample: int) -> None:
    xyz = _cloud(2, 150, 3)
    centres = xyz[:, :20]
    got = ball_query(radius, nsample, torch.from_numpy(xyz), torch.from_numpy(centres)).numpy()
    for b in range(2):
        for s in range(20):
            inside = np.nonzero(((xyz[b] - centres[b, s]) ** 2).sum(1) < radius ** 2)[0][:nsample]
            expected = np.concatenate([inside, np.full(nsample - len(inside), inside[0])])
            np.testing.assert_array_equal(got[b, s], expected)


def test_ball_query_without_neighbours_returns_zero_index() -> None:
    xyz = torch.zeros(1, 10, 3)
    got = ball_query(0.01, 4, xyz, torch.ones(1, 1, 3))
    assert got.tolist() == [[[0, 0, 0, 0]]]


def test_three_nn_and_interpolation_match_reference() -> None:
    unknown, known = _cloud(2, 50, 4), _cloud(2, 12, 5)
    feats = np.random.default_rng(6).normal(size=(2, 12, 5)).astype(np.float32)
    dist, idx = three_nn(torch.from_numpy(unknown), torch.from_numpy(known))
    out = three_interpolate(torch.from_numpy(feats), idx, dist).numpy()
    for b in range(2):
        d = np.sqrt(((unknown[b][:, None] - known[b][None]) ** 2).sum(-1))
        ref_idx = np.argsort(d, axis=1)[:, :3]
        np.testing.assert_array_equal(idx[b].numpy(), ref_idx)
        ref_d = np.take_along_axis(d, ref_idx, 1)
        assert np.abs(dist[b].numpy() - ref_d).max() < 1e-4
        w = 1 / (ref_d + 1e-8)
        w /= w.sum(1, keepdims=True)
        ref = (feats[b][ref_idx] * w[..., None]).sum(1)
        assert np.abs(out[b] - ref).max() < 1e-3


def test_gather_points_indexes_per_batch() -> None:
    pts = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    idx = torch.tensor([[[4, 0]], [[1, 1]]])
    got = gather_points(pts, idx)
    assert got.shape == (2, 1, 2, 3)
    assert torch.equal(got[0, 0, 0], pts[0, 4]) and torch.equal(got[1, 0, 1], pts[1, 1])
