"""Depth sensor model for synthetic frames (structured-light / active-stereo style, like the
RealSense / Kinect-class sensors behind REAL275).

Applied to a clean rendered depth map (metres):
- axial noise growing with distance: sigma(z) = a + b * (z - z0)^2 (the shape measured for
  Kinect-class sensors), correlated over a few pixels (noise drawn at low resolution, upsampled);
- lateral jitter at silhouettes: each pixel may take the depth of a neighbour across an edge;
- edge drop-outs: pixels next to depth discontinuities are lost with high probability;
- grazing-angle drop-outs: surfaces seen nearly edge-on return nothing;
- random missing blobs and isolated missing pixels;
- quantisation to millimetres (the uint16 PNG).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DepthNoiseConfig:
    sigma_base_m: float = 0.0012
    sigma_quad: float = 0.0019  # per m^2 beyond z0
    z0_m: float = 0.4
    edge_jump_m: float = 0.02  # depth step that counts as a discontinuity
    edge_drop_prob: float = 0.6
    grazing_cos: float = 0.15  # |cos(view, normal)| below this -> dropped
    speckle_prob: float = 0.004
    blob_count_max: int = 6
    blob_radius_px: tuple[int, int] = (3, 12)
    max_range_m: float = 4.0


def _depth_edges(depth: np.ndarray, jump: float) -> np.ndarray:
    edge = np.zeros(depth.shape, dtype=bool)
    dx = np.abs(np.diff(depth, axis=1)) > jump
    dy = np.abs(np.diff(depth, axis=0)) > jump
    edge[:, :-1] |= dx
    edge[:, 1:] |= dx
    edge[:-1, :] |= dy
    edge[1:, :] |= dy
    return edge


def _upsampled_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    h, w = shape
    coarse = rng.standard_normal(((h + cell - 1) // cell + 1, (w + cell - 1) // cell + 1), dtype=np.float32)
    fine = np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[:h, :w]
    return np.float32(0.7) * fine + np.float32(0.3) * rng.standard_normal(shape, dtype=np.float32)


def apply_depth_noise(depth_m: np.ndarray, rng: np.random.Generator, cfg: DepthNoiseConfig = DepthNoiseConfig(),
                      fx: float = 591.0) -> np.ndarray:
    """Noisy, hole-punched, mm-quantised copy of a clean depth map (0 = missing)."""
    d = depth_m.astype(np.float32)
    valid = d > 0
    h, w = d.shape
    # lateral jitter near silhouettes: swap in a random 1-px neighbour's depth
    edges = _depth_edges(d, cfg.edge_jump_m) & valid
    if edges.any():
        rows, cols = np.nonzero(edges)
        jitter = rng.integers(-1, 2, size=(2, rows.size))
        r2 = np.clip(rows + jitter[0], 0, h - 1)
        c2 = np.clip(cols + jitter[1], 0, w - 1)
        d[rows, cols] = d[r2, c2]
    valid = d > 0
    sigma = np.float32(cfg.sigma_base_m) + np.float32(cfg.sigma_quad) * np.maximum(d - np.float32(cfg.z0_m), 0) ** 2
    d = d + sigma * _upsampled_noise(rng, (h, w), 4)
    keep = valid & (d > 0) & (d < cfg.max_range_m)
    # edge drop-outs
    edges = _depth_edges(depth_m, cfg.edge_jump_m)
    keep &= ~(edges & (rng.random((h, w), dtype=np.float32) < cfg.edge_drop_prob))
    # grazing angles from the depth gradient: normal ~ (-dz/dx, -dz/dy, 1) in metric units
    gy, gx = np.gradient(depth_m.astype(np.float32))
    z = np.maximum(depth_m, 1e-3)
    mx = gx * fx / z
    my = gy * fx / z
    cos_view = 1.0 / np.sqrt(1.0 + mx * mx + my * my)
    keep &= ~((cos_view < cfg.grazing_cos) & ~edges)
    # isolated speckle and blobs
    keep &= rng.random((h, w), dtype=np.float32) >= cfg.speckle_prob
    n_blobs = int(rng.integers(0, cfg.blob_count_max + 1))
    if n_blobs:
        yy, xx = np.ogrid[0:h, 0:w]
        for _ in range(n_blobs):
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            r = rng.integers(*cfg.blob_radius_px)
            y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, h), max(cx - r, 0), min(cx + r + 1, w)
            disk = (yy[y0:y1] - cy) ** 2 + (xx[:, x0:x1] - cx) ** 2 <= r * r
            keep[y0:y1, x0:x1] &= ~disk
    out = np.where(keep, np.round(d * 1000.0) / 1000.0, 0.0)
    return out.astype(np.float32)
