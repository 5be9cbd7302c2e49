"""Image encoders: shapes, pixel sampling convention, local-file weights (never downloads)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cleanpose_ros.core.errors import WeightsError
from cleanpose_ros.model.config import ImageEncoderConfig
from cleanpose_ros.model.image_encoders import (DinoViTEncoder, ResNetPSPEncoder, SmallCNNEncoder,
                                                sample_at_choose)


def test_sampling_equals_upsample_then_gather() -> None:
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(2, 5, 8, 8, generator=g)
    size = 32
    choose = torch.randint(0, size * size, (2, 50), generator=g)
    up = F.interpolate(fmap, size=(size, size), mode="bilinear", align_corners=False).flatten(2)
    expected = torch.gather(up, 2, choose.unsqueeze(1).expand(-1, 5, -1))
    assert float((sample_at_choose(fmap, choose, size) - expected).abs().max()) < 1e-5


@pytest.mark.parametrize("kind,crop", [("small_cnn", 64), ("resnet", 64)])
def test_cnn_encoders_shapes(kind: str, crop: int) -> None:
    cfg = ImageEncoderConfig(kind=kind, out_channels=32, psp_bins=(1, 2, 4, 8))
    enc = (SmallCNNEncoder if kind == "small_cnn" else ResNetPSPEncoder)(cfg, crop).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, 3, crop, crop), torch.randint(0, crop * crop, (2, 40)))
    assert out.shape == (2, 40, 32)


def test_resnet_loads_torchvision_layout_file(tmp_path: Path) -> None:
    cfg = ImageEncoderConfig(kind="resnet", out_channels=16, psp_bins=(1, 2, 4, 8))
    source = ResNetPSPEncoder(cfg, 64)
    backbone = {k: v for k, v in source.state_dict().items()
                if k.split(".")[0] in {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"}}
    backbone["fc.weight"] = torch.zeros(1000, 512)  # a classifier head in the file is ignored
    torch.save(backbone, tmp_path / "resnet18.pth")
    loaded = ResNetPSPEncoder(replace(cfg, weights_path=str(tmp_path / "resnet18.pth")), 64)
    assert torch.equal(loaded.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    with pytest.raises(WeightsError, match="not found"):
        ResNetPSPEncoder(replace(cfg, weights_path=str(tmp_path / "missing.pth")), 64)


def test_dino_is_frozen_and_loads_dinov2_layout_with_resized_positions(tmp_path: Path) -> None:
    cfg = ImageEncoderConfig(kind="dino", out_channels=16, vit_depth=2)
    source = DinoViTEncoder(cfg, 56)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("project.")}
    state["pos_embed"] = torch.randn(1, 1 + 37 * 37, 384)  # official checkpoints: 518 px, 37x37 grid
    torch.save(state, tmp_path / "dinov2_vits14.pth")
    enc = DinoViTEncoder(replace(cfg, weights_path=str(tmp_path / "dinov2_vits14.pth")), 56)
    assert enc.pos_embed.shape == (1, 1 + 4 * 4, 384)
    assert torch.equal(enc.blocks[1].attn.qkv.weight, source.blocks[1].attn.qkv.weight)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {"project.weight", "project.bias"}
    out = enc(torch.randn(2, 3, 56, 56), torch.randint(0, 56 * 56, (2, 30)))
    assert out.shape == (2, 30, 16)
    torch.save({"unrelated": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="not a ViT-S/14"):
        DinoViTEncoder(replace(cfg, weights_path=str(tmp_path / "bad.pth")), 56)
