"""Sensor model: noise grows with distance, drop-outs sit on edges, output is mm-quantised."""
from __future__ import annotations

import numpy as np

from cleanpose_ros.data.depth_noise import DepthNoiseConfig, apply_depth_noise


def _noise_std(z: float) -> tuple[float, float]:
    clean = np.full((240, 320), z, np.float32)
    noisy = apply_depth_noise(clean, np.random.default_rng(0), DepthNoiseConfig(blob_count_max=0))
    ok = noisy > 0
    return float((noisy[ok] - z).std()), float(1.0 - ok.mean())


def test_axial_noise_follows_the_distance_model() -> None:
    cfg = DepthNoiseConfig()
    for z in (0.5, 1.2, 2.5):
        std, missing = _noise_std(z)
        expected = cfg.sigma_base_m + cfg.sigma_quad * max(z - cfg.z0_m, 0.0) ** 2
        # correlated + white parts: total std = sqrt(0.7^2 + 0.3^2) * sigma; mm rounding adds ~0.29 mm
        model = np.hypot(np.hypot(0.7, 0.3) * expected, 0.001 / np.sqrt(12))
        assert 0.8 * model < std < 1.2 * model, (z, std, model)
        assert missing < 0.01  # flat fronto-parallel plane: only speckle
    assert _noise_std(2.5)[0] > 3 * _noise_std(0.5)[0]


def test_dropouts_concentrate_on_depth_edges_and_values_are_millimetres() -> None:
    clean = np.full((200, 200), 1.0, np.float32)
    clean[:, 100:] = 0.6  # a 40 cm step
    noisy = apply_depth_noise(clean, np.random.default_rng(1), DepthNoiseConfig(blob_count_max=0))
    edge_cols = noisy[:, 99:101]
    flat = noisy[:, 20:80]
    assert (edge_cols == 0).mean() > 0.4
    assert (flat == 0).mean() < 0.02
    np.testing.assert_allclose(noisy * 1000, np.rint(noisy * 1000), atol=1e-3)
    # a surface seen nearly edge-on (2 cm depth change per pixel at 0.5-1.7 m: |cos| < 0.14) is lost,
    # a gently sloped one (1 mm per pixel) is kept
    x = np.arange(60, dtype=np.float32)
    steep = apply_depth_noise(np.tile(0.5 + 0.02 * x, (50, 1)), np.random.default_rng(2),
                              DepthNoiseConfig(blob_count_max=0, edge_jump_m=1.0))
    gentle = apply_depth_noise(np.tile(0.5 + 0.001 * x, (50, 1)), np.random.default_rng(2),
                               DepthNoiseConfig(blob_count_max=0, edge_jump_m=1.0))
    assert (steep == 0).mean() > 0.95 and (gentle == 0).mean() < 0.02


def test_same_generator_state_gives_same_noise() -> None:
    clean = np.full((64, 64), 0.8, np.float32)
    a = apply_depth_noise(clean, np.random.default_rng(5))
    b = apply_depth_noise(clean, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
