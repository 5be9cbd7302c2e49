"""Image encoders: an RGB crop (B, 3, S, S) -> features (B, N, C) at the N chosen pixels (channel-last).

Every encoder produces a low-resolution feature map and samples it bilinearly at the chosen
pixel centres. That equals upsampling the map to S x S (align_corners=False) and gathering the
chosen pixels, at a fraction of the cost.

- `small_cnn`: a few strided conv stages, features of every stage projected and summed (lite).
- `resnet`: ResNet-18 (torchvision key layout, dilated to stride 8) with a PSP pyramid head.
- `dino`: DINOv2 ViT-S/14 layout, always frozen; patch tokens before the final norm.
Pretrained weights come only from a local file (`weights_path`); nothing is ever downloaded.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cleanpose_ros.core.errors import WeightsError

from .config import ImageEncoderConfig

logger = logging.getLogger(__name__)


def sample_at_choose(feature_map: Tensor, choose: Tensor, crop_size: int) -> Tensor:
    """Bilinear features (B, C, N) of feature_map (B, C, h, w) at pixel centres `choose` (B, N) of an S x S grid."""
    row = torch.div(choose, crop_size, rounding_mode="floor")
    col = choose - row * crop_size
    # Pixel centre in normalised [-1, 1] coordinates, the convention of align_corners=False.
    gx = (col.to(feature_map.dtype) + 0.5) * (2.0 / crop_size) - 1.0
    gy = (row.to(feature_map.dtype) + 0.5) * (2.0 / crop_size) - 1.0
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(1)  # (B, 1, N, 2)
    out = F.grid_sample(feature_map, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(2)


def _load_state_dict_file(path: str) -> dict[str, Tensor]:
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"image encoder weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad weights file
        raise WeightsError(f"cannot read image encoder weights {p}: {e}") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{p}: expected a state dict, got {type(state).__name__}")
    return state


class SmallCNNEncoder(nn.Module):
    """One strided 3x3 conv per stage (+ `cnn_deep_convs` more at the deepest); every stage's map is sampled at the
    chosen pixels, projected to C and summed (a feature pyramid without the upsampling)."""

    def __init__(self, cfg: ImageEncoderConfig, crop_size: int) -> None:
        super().__init__()
        self.crop_size = crop_size
        self.stages = nn.ModuleList()
        cin = 3
        for i, c in enumerate(cfg.cnn_channels):
            layers: list[nn.Module] = [nn.Conv2d(cin, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                                       nn.ReLU(inplace=True)]
            if i == len(cfg.cnn_channels) - 1:  # widen the receptive field where it is cheapest
                for _ in range(cfg.cnn_deep_convs):
                    layers += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            self.stages.append(nn.Sequential(*layers))
            cin = c
        self.laterals = nn.ModuleList(nn.Linear(c, cfg.out_channels) for c in cfg.cnn_channels)
        self.out = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(cfg.out_channels, cfg.out_channels))

    def forward(self, rgb: Tensor, choose: Tensor) -> Tensor:
        h = rgb
        total: Tensor | None = None
        for stage, lateral in zip(self.stages, self.laterals):
            h = stage(h)
            # A linear projection commutes with bilinear sampling: sample the stage's map, then project
            # only the N chosen pixels (channel-last Linear, no 1x1 conv over the whole map).
            f = lateral(sample_at_choose(h, choose, self.crop_size).transpose(1, 2))
            total = f if total is None else total + f
        assert total is not None
        return self.out(total)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetPSPEncoder(nn.Module):
    """ResNet-18 (layers 3 and 4 dilated, output stride 8) + PSP pyramid -> C channels, sampled at choose."""

    def __init__(self, cfg: ImageEncoderConfig, crop_size: int) -> None:
        super().__init__()
        self.crop_size = crop_size
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(_BasicBlock(64, 64), _BasicBlock(64, 64))
        self.layer2 = nn.Sequential(_BasicBlock(64, 128, 2), _BasicBlock(128, 128))
        self.layer3 = nn.Sequential(_BasicBlock(128, 256, 1, 2), _BasicBlock(256, 256, 1, 2))
        self.layer4 = nn.Sequential(_BasicBlock(256, 512, 1, 4), _BasicBlock(512, 512, 1, 4))
        self.bins = tuple(cfg.psp_bins)
        self.stages = nn.ModuleList(nn.Conv2d(512, 512 // len(self.bins), 1, bias=False) for _ in self.bins)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(512 + (512 // len(self.bins)) * len(self.bins), 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256), nn.ReLU(inplace=True), nn.Conv2d(256, cfg.out_channels, 1))
        if cfg.weights_path:
            state = _load_state_dict_file(cfg.weights_path)
            backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = self.load_state_dict(backbone, strict=False)
            if unexpected:
                raise WeightsError(f"{cfg.weights_path}: keys not in a ResNet-18: {unexpected[:5]}")
            loaded = len(backbone)
            logger.info("resnet-18 backbone: loaded %d tensors from %s", loaded, cfg.weights_path)

    def forward(self, rgb: Tensor, choose: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(rgb))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        h, w = x.shape[-2:]
        pyramid = [x]
        for b, conv in zip(self.bins, self.stages):
            # Fixed kernel = side / bins (validated in the config) exports as a plain AveragePool.
            pooled = F.avg_pool2d(x, kernel_size=(h // b, w // b))
            pyramid.append(F.interpolate(conv(pooled), size=(h, w), mode="bilinear", align_corners=False))
        feat = self.bottleneck(torch.cat(pyramid, dim=1))
        return sample_at_choose(feat, choose, self.crop_size).transpose(1, 2)


class _ViTBlock(nn.Module):
    """DINOv2 block layout: pre-norm attention and MLP, each with a LayerScale."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Module()
        self.ls1.gamma = nn.Parameter(torch.full((dim,), 1e-5))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)
        self.ls2 = nn.Module()
        self.ls2.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d // self.heads), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.ls1.gamma * self.attn.proj(y)
        x = x + self.ls2.gamma * self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))
        return x


class DinoViTEncoder(nn.Module):
    """Frozen DINOv2 ViT-S/14 (state-dict layout of the official checkpoints) + trainable 1x1 projection."""

    def __init__(self, cfg: ImageEncoderConfig, crop_size: int) -> None:
        super().__init__()
        self.crop_size = crop_size
        self.patch = cfg.vit_patch
        self.grid = crop_size // cfg.vit_patch
        dim = cfg.vit_dim
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, cfg.vit_patch, cfg.vit_patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        # Position embeddings live at the crop's grid; a checkpoint's 37x37 grid is resized on load.
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid * self.grid, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList(_ViTBlock(dim, cfg.vit_heads) for _ in range(cfg.vit_depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # kept for the checkpoint layout; features are taken before it
        self.project = nn.Linear(dim, cfg.out_channels)
        if cfg.weights_path:
            self._load(cfg.weights_path)
        else:
            logger.warning("dino image encoder has no weights_path: the frozen ViT stays randomly initialised")
        for name, p in self.named_parameters():
            p.requires_grad_(name.startswith("project."))

    def _load(self, path: str) -> None:
        state = dict(_load_state_dict_file(path))
        pos = state.get("pos_embed")
        if pos is not None and pos.shape[1] != self.pos_embed.shape[1]:
            cls_pos, grid_pos = pos[:, :1], pos[:, 1:]
            side = int(round(math.sqrt(grid_pos.shape[1])))
            grid_pos = grid_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
            grid_pos = F.interpolate(grid_pos, size=(self.grid, self.grid), mode="bicubic", align_corners=False)
            state["pos_embed"] = torch.cat([cls_pos, grid_pos.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[2])], 1)
        backbone = {k: v for k, v in state.items() if not k.startswith("project.")}
        missing, unexpected = self.load_state_dict(backbone, strict=False)
        missing = [k for k in missing if not k.startswith("project.")]
        if missing or unexpected:
            raise WeightsError(f"{path}: not a ViT-S/14 DINOv2 state dict (missing {missing[:5]}, unexpected {unexpected[:5]})")
        logger.info("dino ViT: loaded %d tensors from %s", len(backbone), path)

    def train(self, mode: bool = True) -> "DinoViTEncoder":
        super().train(mode)
        return self  # no dropout or batch norm in the ViT: train/eval only matter for the projection

    def forward(self, rgb: Tensor, choose: Tensor) -> Tensor:
        with torch.no_grad():  # frozen backbone: no activations kept for backward
            x = self.patch_embed.proj(rgb).flatten(2).transpose(1, 2)  # (B, g*g, dim)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            for blk in self.blocks:
                x = blk(x)
            tokens = x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, self.grid, self.grid)
        return self.project(sample_at_choose(tokens, choose, self.crop_size).transpose(1, 2))


def build_image_encoder(cfg: ImageEncoderConfig, crop_size: int) -> nn.Module:
    if cfg.kind == "small_cnn":
        return SmallCNNEncoder(cfg, crop_size)
    if cfg.kind == "resnet":
        return ResNetPSPEncoder(cfg, crop_size)
    return DinoViTEncoder(cfg, crop_size)
