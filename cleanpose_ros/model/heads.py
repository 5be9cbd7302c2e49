"""Output heads: per-keypoint NOCS coordinates (bin classification + expectation), pose and size
regression, the training-only reconstruction branch and the distillation projector."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import SelfAttentionBlock
from .config import NocsHeadConfig, PoseHeadConfig, ReconConfig
from .mlp import PointwiseMLP, PointwiseMLPHead
from .rotation import rotation_from_6d


class NocsHead(nn.Module):
    """Keypoint features (B, K, D) -> NOCS coordinates (B, K, 3) in [-0.5, 0.5] for the instance's category."""

    def __init__(self, cfg: NocsHeadConfig, dim: int, num_categories: int, heads: int) -> None:
        super().__init__()
        self.num_categories = num_categories
        self.bins = cfg.bins
        self.embed = PointwiseMLP([dim, cfg.hidden, cfg.hidden, dim])
        self.attention = nn.ModuleList(SelfAttentionBlock(dim, heads) for _ in range(cfg.attention_blocks))
        self.classify = PointwiseMLPHead([dim, cfg.hidden, cfg.hidden, num_categories * 3 * cfg.bins])
        self.register_buffer("bin_centres", torch.linspace(-0.5, 0.5, cfg.bins), persistent=False)

    def forward(self, kpt_feat: Tensor, category: Tensor) -> Tensor:
        h = self.embed(kpt_feat)
        for block in self.attention:
            h = block(h)
        logits = self.classify(h)  # (B, K, C*3*bins)
        b, k, _ = logits.shape
        logits = logits.reshape(b, k, self.num_categories, 3 * self.bins)
        index = category.view(-1, 1, 1, 1).expand(-1, k, 1, 3 * self.bins)
        logits = torch.gather(logits, 2, index).reshape(b, k, 3, self.bins)
        return (logits.softmax(dim=-1) * self.bin_centres).sum(-1)


class PoseSizeHead(nn.Module):
    """(kpt_3d centred, kpt_nocs, kpt_feat) -> rotation (B, 3, 3), translation offset (B, 3), size (B, 3)."""

    def __init__(self, cfg: PoseHeadConfig, dim: int) -> None:
        super().__init__()
        c1, c2 = cfg.coord_dims
        self.point_mlp = nn.Sequential(nn.Linear(3, c1), nn.ReLU(inplace=True), nn.Linear(c1, c2), nn.ReLU(inplace=True))
        self.nocs_mlp = nn.Sequential(nn.Linear(3, c1), nn.ReLU(inplace=True), nn.Linear(c1, c2), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Linear(2 * c2 + dim, cfg.hidden), nn.ReLU(inplace=True),
                                  nn.Linear(cfg.hidden, cfg.fuse_dim), nn.ReLU(inplace=True))
        self.refine = nn.Sequential(nn.Linear(2 * cfg.fuse_dim, cfg.hidden), nn.ReLU(inplace=True),
                                    nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True),
                                    nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True))

        def regressor(k: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True),
                                 nn.Linear(cfg.hidden, cfg.fuse_dim), nn.ReLU(inplace=True), nn.Linear(cfg.fuse_dim, k))

        self.rotation = regressor(6)
        self.translation = regressor(3)
        self.size = regressor(3)

    def forward(self, kpt_3d: Tensor, kpt_nocs: Tensor, kpt_feat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.fuse(torch.cat([self.point_mlp(kpt_3d), self.nocs_mlp(kpt_nocs), kpt_feat], dim=-1))
        h = torch.cat([h, h.mean(1, keepdim=True).expand_as(h)], dim=-1)
        pooled = self.refine(h).mean(1)
        r6 = self.rotation(pooled)
        rotation = rotation_from_6d(r6[:, :3], r6[:, 3:])
        return rotation, self.translation(pooled), self.size(pooled)


class ReconstructionHead(nn.Module):
    """Training only: `points_per_keypoint` offsets predicted from each keypoint's feature and anchor,
    added to the anchor (the centred 3D keypoint for the reference objective, kpt_nocs for the legacy one)."""

    def __init__(self, cfg: ReconConfig, dim: int) -> None:
        super().__init__()
        self.per_keypoint = cfg.points_per_keypoint
        self.mlp = nn.Sequential(nn.Linear(dim + 3, cfg.hidden), nn.ReLU(inplace=True),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True),
                                 nn.Linear(cfg.hidden, 3 * cfg.points_per_keypoint))

    def forward(self, kpt_feat: Tensor, anchor: Tensor) -> tuple[Tensor, Tensor]:
        """kpt_feat (B, K, D), anchor (B, K, 3) -> (points (B, K*P, 3) in the anchor's frame, deltas (B, K, P, 3))."""
        b, k, _ = kpt_feat.shape
        delta = self.mlp(torch.cat([kpt_feat, anchor], dim=-1)).reshape(b, k, self.per_keypoint, 3)
        return (anchor.unsqueeze(2) + delta).reshape(b, k * self.per_keypoint, 3), delta


class DistillationProjector(nn.Module):
    """Student side of distillation: pooled point features -> teacher feature space.

    f = normalise(mean over points); f + scale * MLP(f) (MLP's last layer starts at zero, so training
    starts from the identity); then a learnable linear map to the teacher's width.
    """

    def __init__(self, in_dim: int, teacher_dim: int, residual_scale: float) -> None:
        super().__init__()
        self.residual_scale = residual_scale
        self.mlp = nn.Sequential(nn.Linear(in_dim, in_dim, bias=False), nn.GELU(), nn.Linear(in_dim, in_dim, bias=False))
        nn.init.zeros_(self.mlp[2].weight)
        self.project = nn.Linear(in_dim, teacher_dim, bias=False)

    def forward(self, point_feat: Tensor) -> Tensor:
        """point_feat (B, N, C) -> (B, teacher_dim)."""
        f = F.normalize(point_feat.mean(1), dim=-1)
        return self.project(f + self.residual_scale * self.mlp(f))
