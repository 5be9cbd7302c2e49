"""Pre-norm multi-head attention and feed-forward blocks shared by the keypoint detector, the
aggregator, the causal module and the NOCS head. Written with plain matmuls so they export to ONNX
with a dynamic batch and behave identically in torch and onnxruntime."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query: Tensor, context: Tensor) -> Tensor:
        """query (B, Q, D), context (B, K, D) -> (B, Q, D)."""
        b, nq, d = query.shape
        hd = d // self.heads
        q = self.q(query).reshape(b, nq, self.heads, hd).transpose(1, 2)
        k = self.k(context).reshape(b, -1, self.heads, hd).transpose(1, 2)
        v = self.v(context).reshape(b, -1, self.heads, hd).transpose(1, 2)
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)), dim=-1)
        return self.out(torch.matmul(att, v).transpose(1, 2).reshape(b, nq, d))


class SelfAttentionBlock(nn.Module):
    """x + MHA(LN(x))."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(x)
        return x + self.attn(h, h)


class CrossAttentionBlock(nn.Module):
    """x + MHA(LN(x), LN(context))."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        return x + self.attn(self.norm_q(x), self.norm_kv(context))


class FeedForwardBlock(nn.Module):
    """x + MLP(LN(x))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class CrossSelfFFNLayer(nn.Module):
    """[cross-attention to a context, self-attention, feed-forward], all pre-norm with residuals."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.cross = CrossAttentionBlock(dim, heads)
        self.self_attn = SelfAttentionBlock(dim, heads)
        self.ffn = FeedForwardBlock(dim, ffn_dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        return self.ffn(self.self_attn(self.cross(x, context)))
