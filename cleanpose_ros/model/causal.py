"""Front-door causal module: the keypoint features (the mediator m) are combined with features
sampled from a per-category confounder queue (x'), approximating the front-door adjustment
sum_x' P(Y | m, x') P(x'). A self branch refines m on its own; a cross branch lets m attend to the
queue samples; a learned gate mixes the result with m per keypoint and channel."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import CrossSelfFFNLayer, FeedForwardBlock, SelfAttentionBlock
from .config import CausalConfig


class FrontDoorCausalModule(nn.Module):
    def __init__(self, cfg: CausalConfig, dim: int) -> None:
        super().__init__()
        self.self_in = nn.Linear(dim, dim)
        self.self_blocks = nn.ModuleList(
            nn.Sequential(SelfAttentionBlock(dim, cfg.heads), FeedForwardBlock(dim, cfg.ffn_dim))
            for _ in range(cfg.self_blocks))
        self.cross_in = nn.Linear(dim, dim)
        self.cross_layers = nn.ModuleList(CrossSelfFFNLayer(dim, cfg.heads, cfg.ffn_dim) for _ in range(cfg.cross_blocks))
        self.norm = nn.LayerNorm(dim)
        self.gate_f = nn.Linear(dim, dim)
        self.gate_m = nn.Linear(dim, dim)

    def forward(self, mediator: Tensor, confounders: Tensor) -> Tensor:
        """mediator (B, K, D), confounders (B, N_s, D) -> (B, K, D)."""
        s = self.self_in(mediator)
        for block in self.self_blocks:
            s = block(s)
        c = self.cross_in(mediator)
        for layer in self.cross_layers:
            c = layer(c, confounders)
        f = self.norm(s + c)
        gate = torch.sigmoid(self.gate_f(f) + self.gate_m(mediator))
        return gate * f + (1.0 - gate) * mediator
