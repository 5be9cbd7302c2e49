"""PointNet++ multi-scale-grouping point encoder: per-point features (B, N, C_out) for centred points.

Set abstraction levels take their centres as prefixes of one farthest-point ordering of the
input (see pointnet2_ops); each scale groups `nsample` neighbours inside its radius, runs a shared
MLP on (relative position / radius, neighbour features) and max-pools. Feature propagation then
interpolates back level by level to every input point.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import PointEncoderConfig
from .mlp import PointwiseMLP
from .pointnet2_ops import (ball_query_from_distances, farthest_point_sample, gather_points, square_distance,
                           three_interpolate, three_nn)


class SetAbstractionMSG(nn.Module):
    """One set-abstraction level with several (radius, nsample) scales, outputs concatenated."""

    def __init__(self, radii: tuple[float, ...], nsamples: tuple[int, ...], in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.radii = tuple(float(r) for r in radii)
        self.nsamples = tuple(int(n) for n in nsamples)
        per_scale = out_channels // len(radii)
        hidden = max(per_scale // 2, 8)
        self.mlps = nn.ModuleList(PointwiseMLP([in_channels + 3, hidden, hidden, per_scale]) for _ in radii)

    def forward(self, xyz: Tensor, features: Tensor | None, centres: Tensor, d2: Tensor | None = None) -> Tensor:
        """xyz (B, N, 3), features (B, N, C) or None, centres (B, S, 3) -> (B, S, out_channels).

        `d2` (B, S, N): squared centre-to-point distances if already known (shared by all scales).
        """
        if d2 is None:
            d2 = square_distance(centres, xyz)
        outputs = []
        for radius, nsample, mlp in zip(self.radii, self.nsamples, self.mlps):
            idx = ball_query_from_distances(d2, radius, nsample)  # (B, S, k)
            # Relative positions divided by the radius keep the MLP input O(1) at every level.
            grouped = (gather_points(xyz, idx) - centres.unsqueeze(2)) / radius  # (B, S, k, 3)
            if features is not None:
                grouped = torch.cat([grouped, gather_points(features, idx)], dim=-1)
            outputs.append(mlp(grouped).amax(dim=2))  # (B, S, C)
        return torch.cat(outputs, dim=-1)


class FeaturePropagation(nn.Module):
    """Interpolates coarse features onto finer points, concatenates the skip features, shared MLP."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.mlp = PointwiseMLP([in_channels, out_channels, out_channels])

    def forward(self, fine_xyz: Tensor, coarse_xyz: Tensor, fine_features: Tensor | None, coarse_features: Tensor) -> Tensor:
        dist, idx = three_nn(fine_xyz, coarse_xyz)
        h = three_interpolate(coarse_features, idx, dist)  # (B, n, C)
        if fine_features is not None:
            h = torch.cat([h, fine_features], dim=-1)
        return self.mlp(h)


class PointNet2MSG(nn.Module):
    """Centred points (B, N, 3) -> per-point features (B, N, out_channels) (channel-last)."""

    def __init__(self, cfg: PointEncoderConfig) -> None:
        super().__init__()
        self.npoints = tuple(cfg.npoints)
        self.sampling = cfg.sampling
        self.sa = nn.ModuleList()
        in_ch = 0
        for radii, out_ch in zip(cfg.radii, cfg.sa_channels):
            self.sa.append(SetAbstractionMSG(radii, cfg.nsamples, in_ch, out_ch))
            in_ch = out_ch
        self.fp = nn.ModuleList()
        levels = len(cfg.npoints)
        for i in range(levels):
            coarse = cfg.fp_channels[i + 1] if i + 1 < levels else cfg.sa_channels[-1]
            skip = cfg.sa_channels[i - 1] if i > 0 else 0
            self.fp.append(FeaturePropagation(coarse + skip, cfg.fp_channels[i]))
        self.head = nn.Sequential(nn.Linear(cfg.fp_channels[0], cfg.out_channels), nn.ReLU(inplace=True))

    def forward(self, points: Tensor) -> Tensor:
        level_xyz = [points]
        if self.sampling == "fps":
            order = farthest_point_sample(points, self.npoints[0])
            level_xyz.append(gather_points(points, order))
            for n in self.npoints[1:]:
                level_xyz.append(level_xyz[1][:, :n])  # nested FPS: deeper centres are prefixes
        else:
            for n in self.npoints:
                prev = level_xyz[-1]
                stride = prev.shape[1] // n
                level_xyz.append(prev[:, 0:stride * n:stride])
        level_feat: list[Tensor | None] = [None]
        for i, sa in enumerate(self.sa):
            level_feat.append(sa(level_xyz[i], level_feat[i], level_xyz[i + 1]))
        h = level_feat[-1]
        for i in reversed(range(len(self.fp))):
            h = self.fp[i](level_xyz[i], level_xyz[i + 1], level_feat[i], h)
        return self.head(h)
