"""Shared per-point / per-keypoint MLP layers on channel-last tensors (..., C)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class PointwiseMLP(nn.Module):
    """Shared Linear (no bias) + BatchNorm + ReLU layers on the last axis of a channel-last tensor.

    Channel-last Linear layers avoid the transposes and the slow 1x1-conv path on small grouped tensors.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:])

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape[:-1]
        h = x.reshape(-1, x.shape[-1])
        for linear, norm in zip(self.linears, self.norms):
            h = torch.relu(norm(linear(h)))
        return h.reshape(*shape, h.shape[-1])


class PointwiseMLPHead(nn.Module):
    """PointwiseMLP followed by a plain Linear output layer (logits / regression)."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.body = PointwiseMLP(widths[:-1])
        self.out = nn.Linear(widths[-2], widths[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.body(x))
