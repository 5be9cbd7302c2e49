"""Distillation teachers: ULIP-2 PointBERT layout loading, small teacher save/load, KD wiring."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from cleanpose_ros.core.errors import WeightsError
from cleanpose_ros.model.network import CleanPose
from cleanpose_ros.model.teacher import (PointBertTeacher, PointNetTeacher, describe_teacher, load_pointbert_teacher,
                                         load_teacher, save_pointnet_teacher)

BatchFactory = Callable[..., dict[str, torch.Tensor]]  # the make_training_batch fixture (conftest.py)


@pytest.fixture(scope="module")
def pointbert() -> PointBertTeacher:
    torch.manual_seed(0)
    return PointBertTeacher().eval()


def test_pointbert_architecture_sizes(pointbert: PointBertTeacher) -> None:
    assert len(pointbert.blocks.blocks) == 12 and pointbert.norm.normalized_shape[0] == 384
    assert (pointbert.groups, pointbert.group_size) == (512, 32)
    with torch.no_grad():
        out = pointbert(torch.randn(2, 600, 3) * 0.05)
    assert out.shape == (2, 768)


def test_pointbert_loads_ulip_layout_state_dict(pointbert: PointBertTeacher, tmp_path: Path) -> None:
    state = {f"module.point_encoder.{k}": v for k, v in pointbert.state_dict().items()}
    state["module.pc_projection"] = torch.randn(768, 512)  # other ULIP parts are ignored
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "ulip2.pt")
    loaded = load_teacher(tmp_path / "ulip2.pt")
    assert isinstance(loaded, PointBertTeacher)
    x = torch.randn(1, 600, 3) * 0.05
    with torch.no_grad():
        assert torch.equal(loaded(x), pointbert(x))
    assert describe_teacher(loaded).startswith("ulip2_pointbert from ")


def test_pointbert_refuses_other_state_dicts(tmp_path: Path) -> None:
    torch.save({"state_dict": {"something.weight": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not a ULIP-2 PointBERT"):
        load_pointbert_teacher(tmp_path / "other.pt")


def test_small_teacher_round_trip(tmp_path: Path) -> None:
    teacher = PointNetTeacher().eval()
    save_pointnet_teacher(tmp_path / "t.pt", teacher)
    loaded = load_teacher(tmp_path / "t.pt")
    assert isinstance(loaded, PointNetTeacher)
    x = torch.randn(3, 256, 3) * 0.05
    with torch.no_grad():
        assert torch.equal(loaded(x), teacher(x)) and loaded(x).shape == (3, 768)
    assert "pointnet_self_pretrained" in describe_teacher(loaded)


def test_attached_teacher_drives_kd_loss_and_stays_frozen(make_training_batch: BatchFactory, lite_model: CleanPose) -> None:
    teacher = PointNetTeacher()
    lite_model.attach_teacher(teacher)
    batch = make_training_batch(lite_model.config, 2)
    total, terms = lite_model.training_step(batch)
    assert "kd" in terms and terms["kd"] > 0
    total.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert not any(k.startswith("_teacher") or "teacher" in k for k in lite_model.state_dict())


def test_small_teacher_pretraining_runs_and_saves(tmp_path: Path) -> None:
    from cleanpose_ros.tools.pretrain_teacher import main

    assert 0 == main(["--out", str(tmp_path / "t.pt"), "--steps", "2", "--batch", "4", "--num-points", "64", "--threads", "1",
          "--shapes-per-category", "2"])
    teacher = load_teacher(tmp_path / "t.pt")
    assert isinstance(teacher, PointNetTeacher) and "self-pretrained" in describe_teacher(teacher)
