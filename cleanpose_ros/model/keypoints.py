"""Instance-adaptive keypoint detector: learnable queries attend to the fused point features and
become instance-specific; a sharp softmax of their cosine similarity to every point is a heatmap
whose weighted averages give keypoint positions and keypoint features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import CrossSelfFFNLayer
from .config import KeypointConfig


class KeypointDetector(nn.Module):
    def __init__(self, cfg: KeypointConfig, dim: int) -> None:
        super().__init__()
        self.temperature = cfg.temperature
        self.queries = nn.Parameter(torch.randn(cfg.num_keypoints, dim) * 0.02)
        self.layers = nn.ModuleList(CrossSelfFFNLayer(dim, cfg.heads, cfg.ffn_dim) for _ in range(cfg.blocks))
        self.norm = nn.LayerNorm(dim)

    def forward(self, points: Tensor, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """points (B, N, 3) centred, features (B, N, D) -> (kpt_3d (B, K, 3), kpt_feat (B, K, D), heatmap (B, K, N))."""
        q = self.queries.unsqueeze(0).expand(features.shape[0], -1, -1)
        for layer in self.layers:
            q = layer(q, features)
        q = self.norm(q)
        similarity = F.normalize(q, dim=-1) @ F.normalize(features, dim=-1).transpose(1, 2)
        heatmap = (similarity / self.temperature).softmax(dim=-1)
        return heatmap @ points, heatmap @ features, heatmap
