"""Training configuration (one YAML file: model + data + optimiser + schedule + logging)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..core.config import PreprocessConfig, require as _check


@dataclass(frozen=True)
class DataSource:
    """One NOCS-format dataset folder (generated or real) and its share of the training mix."""

    path: str
    source: str = "real"  # tree layout under path: "real" (REAL275-like) or "camera" (CAMERA-like)
    split: str = "train"
    weight: float = 1.0

    def __post_init__(self) -> None:
        _check(bool(self.path), "data source path must not be empty")
        _check(self.weight > 0, f"data source weight must be > 0, got {self.weight}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam with a triangular cyclic learning rate (model.md: 2e-5 .. 5e-4, 20k steps up and down)."""

    lr_min: float = 2e-5
    lr_max: float = 5e-4
    half_cycle_steps: int = 20000
    weight_decay: float = 0.0
    grad_clip_norm: float = 10.0

    def __post_init__(self) -> None:
        _check(0 < self.lr_min <= self.lr_max, f"need 0 < lr_min <= lr_max, got {self.lr_min}, {self.lr_max}")
        _check(self.half_cycle_steps >= 1, "half_cycle_steps must be >= 1")
        _check(self.grad_clip_norm > 0, "grad_clip_norm must be > 0")


@dataclass(frozen=True)
class TrainConfig:
    model: str = "lite"  # a named model config (lite, paper) or a YAML path
    data: tuple[DataSource, ...] = ()
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)  # num_points/crop_size come from the model
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 10000
    batch_size: int = 24  # objects per step
    seed: int = 42
    num_workers: int = 2
    augment: bool = True
    amp: Literal["auto", "off"] = "auto"  # bf16/fp16 autocast on CUDA only
    device: str = "auto"  # auto | cpu | cuda
    checkpoint_every: int = 500
    log_every: int = 25
    keep_checkpoints: int = 3
    teacher: str | None = None  # a teacher checkpoint (ULIP-2 layout or our own); None -> no KD term
    queue_init_instances: int = -1  # instances per category for the confounder queue; -1 = the model's N_q

    def __post_init__(self) -> None:
        _check(len(self.data) > 0, "data: give at least one dataset source")
        _check(self.steps >= 1, "steps must be >= 1")
        _check(self.batch_size >= 2, "batch_size must be >= 2 (BatchNorm layers need 2 samples)")
        _check(self.num_workers >= 0, "num_workers must be >= 0")
        _check(self.checkpoint_every >= 1 and self.log_every >= 1, "checkpoint_every and log_every must be >= 1")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")
