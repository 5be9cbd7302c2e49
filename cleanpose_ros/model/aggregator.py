"""Geometric-aware feature aggregator: each keypoint gathers its k nearest object points (local
geometry, weighted by feature similarity, with relative-position encodings), then all keypoints
exchange information through a global step (mean keypoint feature, absolute and pairwise position
encodings). Residual blocks, one per neighbourhood size."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import AggregatorConfig
from .pointnet2_ops import gather_points, square_distance


def _position_encoder(hidden: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))


class GeometricAwareBlock(nn.Module):
    def __init__(self, dim: int, neighbours: int, temperature: float, pos_dim: int) -> None:
        super().__init__()
        self.k = neighbours
        self.temperature = temperature
        self.local_pos = _position_encoder(pos_dim, dim)
        self.local_mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.abs_pos = _position_encoder(pos_dim, dim)
        self.pair_pos = _position_encoder(pos_dim, dim)
        self.global_mlp = nn.Sequential(nn.LayerNorm(4 * dim), nn.Linear(4 * dim, dim), nn.ReLU(inplace=True),
                                        nn.Linear(dim, dim))

    def forward(self, kpt_3d: Tensor, kpt_feat: Tensor, points: Tensor, point_feat: Tensor) -> Tensor:
        """kpt_3d (B, K, 3), kpt_feat (B, K, D), points (B, N, 3), point_feat (B, N, D) -> (B, K, D)."""
        k = min(self.k, points.shape[1])
        idx = torch.topk(square_distance(kpt_3d, points), k, dim=-1, largest=False).indices  # (B, K, k)
        nbr_feat = gather_points(point_feat, idx)  # (B, K, k, D)
        rel = gather_points(points, idx) - kpt_3d.unsqueeze(2)
        similarity = (F.normalize(nbr_feat, dim=-1) * F.normalize(kpt_feat, dim=-1).unsqueeze(2)).sum(-1)
        weight = (similarity / self.temperature).softmax(dim=-1).unsqueeze(-1)
        # Weighted sum first, MLP after: the MLP then runs once per keypoint instead of once per neighbour.
        local = self.local_mlp(((nbr_feat + self.local_pos(rel)) * weight).sum(2))
        h = kpt_feat + local
        pairwise = self.pair_pos(kpt_3d.unsqueeze(2) - kpt_3d.unsqueeze(1)).mean(2)  # (B, K, D)
        mean_feat = h.mean(1, keepdim=True).expand_as(h)
        return h + self.global_mlp(torch.cat([h, mean_feat, self.abs_pos(kpt_3d), pairwise], dim=-1))


class GeometricAwareAggregator(nn.Module):
    def __init__(self, cfg: AggregatorConfig, dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(GeometricAwareBlock(dim, k, cfg.temperature, cfg.pos_dim) for k in cfg.neighbours)

    def forward(self, kpt_3d: Tensor, kpt_feat: Tensor, points: Tensor, point_feat: Tensor) -> Tensor:
        for block in self.blocks:
            kpt_feat = block(kpt_3d, kpt_feat, points, point_feat)
        return kpt_feat
