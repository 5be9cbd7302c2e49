"""Distillation teachers behind one interface: a frozen module mapping centred object points
(B, N, 3) in metres to a global feature (B, 768).

- `PointBertTeacher`: the ULIP-2 PointBERT architecture (12 transformer layers of width 384, 6 heads,
  512 groups of 32 points, mini-PointNet group encoder of width 256; output concat(CLS, max-pool)
  = 768). It loads a ULIP-2 state dict from a LOCAL file (`load_pointbert_teacher`); key prefixes
  `module.point_encoder.` / `point_encoder.` are stripped, other ULIP parts (text/image towers,
  projections) are ignored. ULIP-2 weights cannot be downloaded here.
- `PointNetTeacher`: a small shared-MLP PointNet (output concat(max-pool, mean-pool) = 768) that
  this project pretrains itself on procedural shapes of the six categories
  (`teacher_pretrain.pretrain_pointnet_teacher`: category classification + normalised size
  regression). This is the teacher used when no ULIP-2 file is available; it is much weaker.

`describe_teacher(teacher)` returns a one-line string to store in a checkpoint's `extra` so every set
of weights says which teacher distilled it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cleanpose_ros.core.errors import WeightsError

from .mlp import PointwiseMLP
from .pointnet2_ops import farthest_point_sample, gather_points, square_distance

logger = logging.getLogger(__name__)

TEACHER_DIM = 768
SMALL_TEACHER_FORMAT = "cleanpose_ros.pointnet_teacher"


class _PointBertGroupEncoder(nn.Module):
    """Mini-PointNet over each group (ULIP/Point-BERT `encoder.*` key layout)."""

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
                                        nn.Conv1d(128, 256, 1))
        self.second_conv = nn.Sequential(nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                         nn.Conv1d(512, out_dim, 1))

    def forward(self, groups: Tensor) -> Tensor:
        """groups (B, G, k, 3) -> (B, G, out_dim)."""
        b, g, k, _ = groups.shape
        h = self.first_conv(groups.reshape(b * g, k, 3).transpose(1, 2))  # (BG, 256, k)
        global_feat = h.amax(dim=2, keepdim=True)
        h = self.second_conv(torch.cat([global_feat.expand(-1, -1, k), h], dim=1))
        return h.amax(dim=2).reshape(b, g, -1)


class _PointBertBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.attn.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, n, d)
        x = x + self.attn.proj(y)
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class PointBertTeacher(nn.Module):
    """ULIP-2 PointBERT point encoder; forward(points (B, N, 3) centred) -> (B, 2 * width)."""

    kind = "ulip2_pointbert"

    def __init__(self, width: int = 384, depth: int = 12, heads: int = 6, groups: int = 512, group_size: int = 32,
                 encoder_dim: int = 256) -> None:
        super().__init__()
        self.groups, self.group_size = groups, group_size
        self.source = "random init"
        self.encoder = _PointBertGroupEncoder(encoder_dim)
        self.reduce_dim = nn.Linear(encoder_dim, width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.cls_pos = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, width))
        self.blocks = nn.Module()
        self.blocks.blocks = nn.ModuleList(_PointBertBlock(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    @property
    def feature_dim(self) -> int:
        return 2 * self.norm.normalized_shape[0]

    def forward(self, points: Tensor) -> Tensor:
        n_groups = min(self.groups, points.shape[1])
        k = min(self.group_size, points.shape[1])
        centres = gather_points(points, farthest_point_sample(points, n_groups))  # (B, G, 3)
        knn = torch.topk(square_distance(centres, points), k, dim=-1, largest=False).indices
        neighbourhoods = gather_points(points, knn) - centres.unsqueeze(2)
        tokens = self.reduce_dim(self.encoder(neighbourhoods))
        b = points.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        pos = torch.cat([self.cls_pos.expand(b, -1, -1), self.pos_embed(centres)], dim=1)
        for block in self.blocks.blocks:  # Point-BERT adds the position embedding before every block
            x = block(x + pos)
        x = self.norm(x)
        return torch.cat([x[:, 0], x[:, 1:].amax(dim=1)], dim=-1)


class PointNetTeacher(nn.Module):
    """Small self-pretrained teacher: shared MLP 3 -> ... -> 384, concat(max, mean) = 768, plus the
    pretraining heads (category logits, normalised size) that distillation does not use."""

    kind = "pointnet_self_pretrained"

    def __init__(self, num_categories: int = 6, widths: tuple[int, ...] = (64, 128, 256, 384)) -> None:
        super().__init__()
        self.source = "random init"
        self.mlp = PointwiseMLP([3, *widths])
        dim = 2 * widths[-1]
        self.classifier = nn.Sequential(nn.Linear(dim, 256), nn.ReLU(inplace=True), nn.Linear(256, num_categories))
        self.size_head = nn.Sequential(nn.Linear(dim, 256), nn.ReLU(inplace=True), nn.Linear(256, 3))

    @property
    def feature_dim(self) -> int:
        return 2 * self.mlp.linears[-1].out_features

    def forward(self, points: Tensor) -> Tensor:
        # Points in metres are ~0.1 across; dividing by their RMS radius makes the input scale-free.
        radius = points.norm(dim=-1).pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-6)
        h = self.mlp(points / radius.unsqueeze(-1))
        return torch.cat([h.amax(dim=1), h.mean(dim=1)], dim=-1)

    def predict(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """(category logits, normalised size) for pretraining."""
        f = self.forward(points)
        return self.classifier(f), self.size_head(f)


def _read_state(path: str | Path) -> dict[str, Tensor]:
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"teacher weights not found: {p}")
    try:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - refused or corrupt: both mean unusable weights
        raise WeightsError(f"{p}: cannot read teacher weights safely ({type(e).__name__}: "
                           f"{str(e).splitlines()[0]}); save a plain state dict of tensors") from None
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model", "module"):
            if wrapper in state and isinstance(state[wrapper], dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict):
        raise WeightsError(f"{p}: expected a state dict, got {type(state).__name__}")
    return state


def load_pointbert_teacher(path: str | Path) -> PointBertTeacher:
    """ULIP-2 PointBERT teacher from a local state dict (ULIP checkpoint layout accepted)."""
    state = _read_state(path)
    prefixes = ("module.point_encoder.", "point_encoder.", "module.")
    encoder_state: dict[str, Tensor] = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        encoder_state[key] = value
    teacher = PointBertTeacher()
    expected = set(teacher.state_dict())
    picked = {k: v for k, v in encoder_state.items() if k in expected}
    missing = sorted(expected - set(picked))
    if missing:
        raise WeightsError(f"{path}: not a ULIP-2 PointBERT state dict, missing {len(missing)} keys, e.g. {missing[:4]}")
    try:
        teacher.load_state_dict(picked, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path}: PointBERT weights have the wrong shapes: {str(e).splitlines()[0]}") from None
    teacher.source = str(path)
    return teacher.eval()


def save_pointnet_teacher(path: str | Path, teacher: PointNetTeacher, extra: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": SMALL_TEACHER_FORMAT, "state_dict": teacher.state_dict(), "extra": dict(extra or {})}, path)
    return path


def load_pointnet_teacher(path: str | Path) -> PointNetTeacher:
    p = Path(path)
    try:
        payload = torch.load(str(p), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"teacher weights not found: {p}") from None
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"{p}: cannot read teacher weights safely: {str(e).splitlines()[0]}") from None
    if not isinstance(payload, dict) or payload.get("format") != SMALL_TEACHER_FORMAT:
        raise WeightsError(f"{p}: not a {SMALL_TEACHER_FORMAT} file")
    state = payload["state_dict"]
    num_categories = state["classifier.2.weight"].shape[0]
    teacher = PointNetTeacher(num_categories)
    try:
        teacher.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{p}: teacher weights do not match: {str(e).splitlines()[0]}") from None
    trained = (payload.get("extra") or {}).get("source")
    teacher.source = f"{p} ({trained})" if trained else str(p)
    return teacher.eval()


def load_teacher(path: str | Path) -> nn.Module:
    """Either teacher from a local file: our PointNet teacher format, else a ULIP-2 PointBERT state dict."""
    try:
        return load_pointnet_teacher(path)
    except WeightsError:
        return load_pointbert_teacher(path)


def describe_teacher(teacher: nn.Module | None) -> str:
    """One line for checkpoint metadata, e.g. 'ulip2_pointbert from /path/ulip2.pt'."""
    if teacher is None:
        return "none (no distillation)"
    return f"{getattr(teacher, 'kind', type(teacher).__name__)} from {getattr(teacher, 'source', 'unknown')}"
