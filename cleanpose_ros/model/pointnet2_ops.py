"""PointNet++ building blocks in plain PyTorch: farthest point sampling, ball query, grouping and
three-nearest-neighbour interpolation. No custom kernels, so they run on the CPU and trace into
an ONNX graph with a dynamic batch size.

Semantics follow the usual CUDA implementations:
- farthest point sampling starts from point 0 and picks, at each step, the point whose distance
  to the already chosen set is largest (first index wins ties); the python loop has a fixed
  number of iterations (`npoint`), so tracing unrolls it into a static graph;
- ball query returns, per centre, the first `nsample` point indices (in index order) strictly
  inside the radius, padded with the first one found (index 0 when none is found);
- three-NN interpolation weights the three nearest known points by inverse distance.

Nesting property used by the point encoder: FPS on the first k points of an FPS ordering, started
at the same point, returns exactly the first m < k points of that ordering. So one FPS run on the
full cloud yields the centres of every set-abstraction level as prefixes.
"""
from __future__ import annotations

import torch
from torch import Tensor


def square_distance(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise squared distances (B, S, 3) x (B, N, 3) -> (B, S, N).

    Written as (dx^2 + dy^2) + dz^2 of elementwise differences, in that order, rather than as one
    matrix product (|a|^2 - 2 a.b + |b|^2): a matmul's summation order belongs to the BLAS of each
    engine, so torch and onnxruntime got distances that differed in the last bits and the discrete
    selections built on them (ball query radius tests, nearest neighbours) flipped between engines.
    Elementwise operations in a fixed order give the same bits in both (docs/runtime.md, parity). The
    (B, S, N) intermediates are small at this model's sizes (S, N <= 256).
    """
    d = a.unsqueeze(2) - b.unsqueeze(1)  # (B, S, N, 3)
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    return (dx * dx + dy * dy) + dz * dz


def farthest_point_sample(xyz: Tensor, npoint: int, dmat: Tensor | None = None) -> Tensor:
    """Indices (B, npoint) int64 of a farthest-point ordering of xyz (B, N, 3), starting at point 0.

    `dmat` (B, N, N) are the pairwise squared distances when the caller already has them.
    """
    if dmat is None:
        dmat = square_distance(xyz, xyz)  # one gather per step instead of recomputing distances
    n = xyz.shape[1]
    farthest = torch.zeros_like(xyz[:, 0, 0], dtype=torch.int64)  # (B,), dynamic B survives tracing
    min_dist = dmat[:, 0, :] * 0.0 + 1e10
    chosen = []
    for _ in range(npoint):
        chosen.append(farthest)
        row = torch.gather(dmat, 1, farthest.view(-1, 1, 1).expand(-1, 1, n)).squeeze(1)
        min_dist = torch.minimum(min_dist, row)
        farthest = torch.argmax(min_dist, dim=1)
    return torch.stack(chosen, dim=1)


def ball_query(radius: float, nsample: int, xyz: Tensor, centres: Tensor) -> Tensor:
    """Indices (B, S, nsample) of points of xyz (B, N, 3) within `radius` of centres (B, S, 3)."""
    return ball_query_from_distances(square_distance(centres, xyz), radius, nsample)


def ball_query_from_distances(d2: Tensor, radius: float, nsample: int) -> Tensor:
    """Ball query on precomputed squared distances (B, S, N), so several radii share one distance matrix."""
    n = d2.shape[-1]
    order = torch.arange(n, dtype=d2.dtype, device=d2.device)
    # Points inside keep their index as key, the others are pushed behind all inside points, so the
    # nsample smallest keys are the first inside points in index order.
    key = torch.where(d2 < radius * radius, order, order + float(n))
    k = min(nsample, n)
    picked = torch.topk(key, k, dim=-1, largest=False, sorted=True).values.to(torch.int64)
    first = picked[..., :1]
    picked = torch.where(picked >= n, first.expand_as(picked), picked)
    picked = torch.where(picked >= n, torch.zeros_like(picked), picked)
    if k < nsample:  # fewer points than samples: repeat the first index, as the CUDA op pads
        picked = torch.cat([picked, picked[..., :1].expand(-1, -1, nsample - k)], dim=-1)
    return picked


def gather_points(points: Tensor, idx: Tensor) -> Tensor:
    """points (B, N, C) indexed by idx (B, *rest) -> (B, *rest, C)."""
    b, _, c = points.shape
    flat = idx.reshape(b, -1)
    out = torch.gather(points, 1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*idx.shape, c)


def three_nn(unknown: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
    """Three nearest known points (B, m, 3) of each unknown point (B, n, 3): (distances, indices) (B, n, 3),
    nearest first."""
    d2 = square_distance(unknown, known)
    dists, indices = [], []
    # Three successive minimum passes are cheaper on the CPU than a top-k over every row.
    for i in range(3):
        value, index = d2.min(dim=-1)
        dists.append(value)
        indices.append(index)
        if i < 2:
            d2 = d2.scatter(-1, index.unsqueeze(-1), float("inf"))
    return torch.sqrt(torch.stack(dists, dim=-1)), torch.stack(indices, dim=-1)


def three_interpolate(features: Tensor, idx: Tensor, dist: Tensor) -> Tensor:
    """Inverse-distance interpolation of known features (B, m, C) -> (B, n, C)."""
    weight = 1.0 / (dist + 1e-8)
    weight = weight / weight.sum(-1, keepdim=True)
    neighbours = gather_points(features, idx)  # (B, n, 3, C)
    return (neighbours * weight.unsqueeze(-1)).sum(2)
