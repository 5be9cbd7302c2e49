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


class PositionEncoder(nn.Module):
    """3-d offsets -> D via Linear-ReLU-Linear. `hidden()` and `project()` are exposed separately because
    a weighted average commutes with the last (affine) layer: averaging in the narrow hidden space
    first is exact and much cheaper."""

    def __init__(self, hidden: int, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def hidden(self, offsets: Tensor) -> Tensor:
        return torch.relu(self.fc1(offsets))

    def project(self, hidden: Tensor) -> Tensor:
        return self.fc2(hidden)

    def forward(self, offsets: Tensor) -> Tensor:
        return self.project(self.hidden(offsets))


class GeometricAwareBlock(nn.Module):
    def __init__(self, dim: int, neighbours: int, temperature: float, pos_dim: int) -> None:
        super().__init__()
        self.k = neighbours
        self.temperature = temperature
        self.local_pos = PositionEncoder(pos_dim, dim)
        self.local_mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.abs_pos = PositionEncoder(pos_dim, dim)
        self.pair_pos = PositionEncoder(pos_dim, dim)
        self.global_mlp = nn.Sequential(nn.LayerNorm(4 * dim), nn.Linear(4 * dim, dim), nn.ReLU(inplace=True),
                                        nn.Linear(dim, dim))

    def forward(self, kpt_3d: Tensor, kpt_feat: Tensor, points: Tensor, point_feat: Tensor,
                point_feat_unit: Tensor) -> Tensor:
        """kpt_3d (B, K, 3), kpt_feat (B, K, D), points (B, N, 3), point_feat (B, N, D) and its
        L2-normalised copy -> (B, K, D)."""
        k = min(self.k, points.shape[1])
        idx = torch.topk(square_distance(kpt_3d, points), k, dim=-1, largest=False).indices  # (B, K, k)
        # Cosine similarity to all points is one small matmul; the k neighbours' values are then gathered.
        similarity = torch.gather(F.normalize(kpt_feat, dim=-1) @ point_feat_unit.transpose(1, 2), 2, idx)
        weight = (similarity / self.temperature).softmax(dim=-1)  # (B, K, k)
        # sum_k w_k f_k as a sparse-weight matmul instead of gathering (B, K, k, D) neighbour features.
        dense_weight = torch.zeros_like(similarity[:, :, :1]).expand(-1, -1, points.shape[1])
        dense_weight = dense_weight.scatter(2, idx, weight)
        rel = gather_points(points, idx) - kpt_3d.unsqueeze(2)
        pos = self.local_pos.project((self.local_pos.hidden(rel) * weight.unsqueeze(-1)).sum(2))
        local = self.local_mlp(dense_weight @ point_feat + pos)
        h = kpt_feat + local
        pairwise = self.pair_pos.project(self.pair_pos.hidden(kpt_3d.unsqueeze(2) - kpt_3d.unsqueeze(1)).mean(2))
        mean_feat = h.mean(1, keepdim=True).expand_as(h)
        return h + self.global_mlp(torch.cat([h, mean_feat, self.abs_pos(kpt_3d), pairwise], dim=-1))


class GeometricAwareAggregator(nn.Module):
    def __init__(self, cfg: AggregatorConfig, dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(GeometricAwareBlock(dim, k, cfg.temperature, cfg.pos_dim) for k in cfg.neighbours)

    def forward(self, kpt_3d: Tensor, kpt_feat: Tensor, points: Tensor, point_feat: Tensor) -> Tensor:
        unit = F.normalize(point_feat, dim=-1)
        for block in self.blocks:
            kpt_feat = block(kpt_3d, kpt_feat, points, point_feat, unit)
        return kpt_feat
