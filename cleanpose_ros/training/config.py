"""Training configuration (one YAML file: model + data + optimiser + schedule + logging)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..core.config import PreprocessConfig, from_dict, merge_dicts, read_yaml_with_extends, require as _check, to_dict
from ..core.types import CATEGORIES, YAW_OBSERVABLE_CATEGORIES

if TYPE_CHECKING:
    from ..model.config import ModelConfig


@dataclass(frozen=True)
class DataSource:
    """One NOCS-format dataset folder (generated or real) and its share of the training mix."""

    path: str
    source: str = "real"  # tree layout under path: "real" (REAL275-like) or "camera" (CAMERA-like)
    split: str = "train"
    weight: float = 1.0
    # Subsets, for controlled studies (e.g. the pose-biased split of docs/ablation.md):
    categories: tuple[str, ...] | None = None  # use only these categories' instances; None = all
    # keep only instances whose viewer-relative yaw (core.geometry.viewer_relative_yaw_deg) lies in
    # [lo, hi] degrees; applies to `yaw_categories` only, other categories are kept whatever their yaw
    yaw_range_deg: tuple[float, float] | None = None
    yaw_categories: tuple[str, ...] = YAW_OBSERVABLE_CATEGORIES
    # read the objects from a memory-mapped sample cache (data/sample_cache.py) under
    # <path>/.sample_cache/, built on first use (regenerable: delete it and it is rebuilt)
    cache: bool = False
    cache_pool_points: int = 1024  # points cached per object; each step draws the model's num_points of them

    def __post_init__(self) -> None:
        _check(bool(self.path), "data source path must not be empty")
        _check(self.weight > 0, f"data source weight must be > 0, got {self.weight}")
        for name in (self.categories or ()) + self.yaw_categories:
            _check(name in CATEGORIES, f"unknown category {name!r}; known: {list(CATEGORIES)}")
        if self.yaw_range_deg is not None:
            lo, hi = self.yaw_range_deg
            _check(-180.0 <= lo < hi <= 180.0, f"yaw_range_deg needs -180 <= lo < hi <= 180, got {self.yaw_range_deg}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam with a triangular cyclic learning rate (model.md: 2e-5 .. 5e-4, 20k steps up and down)."""

    lr_min: float = 2e-5
    lr_max: float = 5e-4
    half_cycle_steps: int = 20000
    weight_decay: float = 0.0
    # global gradient-norm clip; null = none (the reference clips nothing; docs/training.md has the
    # measured gradient norms behind the default)
    grad_clip_norm: float | None = None

    def __post_init__(self) -> None:
        _check(0 < self.lr_min <= self.lr_max, f"need 0 < lr_min <= lr_max, got {self.lr_min}, {self.lr_max}")
        _check(self.half_cycle_steps >= 1, "half_cycle_steps must be >= 1")
        _check(self.grad_clip_norm is None or self.grad_clip_norm > 0, "grad_clip_norm must be > 0 or null")


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
    #: weights and activations in float64: slow, for equivalence checks only. In float32 two runs that differ
    #: only in summation order (thread count, data-parallel ranks) already differ by ~2 % in the point
    #: encoder's gradients after one step (measured: max-pooling over neighbours whose features tie within
    #: rounding routes the gradient to either one); in float64 they agree to ~1e-12 (test_data_parallel.py).
    float64: bool = False
    device: str = "auto"  # auto | cpu | cuda
    checkpoint_every: int = 500
    log_every: int = 25
    keep_checkpoints: int = 3
    teacher: str | None = None  # a teacher checkpoint (ULIP-2 layout or our own); None -> no KD term
    # start a new run (step 0) from these weights (a checkpoint of the same model config, queue included)
    # instead of a random initialisation; ignored when the run resumes from its own checkpoint
    init_from: str | None = None
    threads: int | None = None  # torch intra-op threads of the training process; None = torch's default
    # compile the network's parts with torch.compile (inductor; needs a C++ compiler): ~1.2x faster steps
    # on the CPU for ~1 minute of compilation at start (bench/bench_training.py); checkpoints are unchanged
    compile: bool = False
    # merged over the named model config, e.g. {causal: {enabled: false}} for an ablation variant
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(len(self.data) > 0, "data: give at least one dataset source")
        _check(self.steps >= 1, "steps must be >= 1")
        _check(self.batch_size >= 2, "batch_size must be >= 2 (BatchNorm layers need 2 samples)")
        _check(self.num_workers >= 0, "num_workers must be >= 0")
        _check(self.checkpoint_every >= 1 and self.log_every >= 1, "checkpoint_every and log_every must be >= 1")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")
        _check(self.threads is None or self.threads >= 1, "threads must be >= 1 or null")


def load_train_config(path: str | Path) -> TrainConfig:
    """A training YAML, following `extends:` (variants such as config/train/ablation/*.yaml name only
    what they change)."""
    return from_dict(TrainConfig, read_yaml_with_extends(path), where=str(path))


def resolve_model_config(cfg: TrainConfig) -> "ModelConfig":
    """The model config a training run builds: the named/YAML config with `model_overrides` merged in."""
    from ..model.config import ModelConfig, load_model_config

    base = load_model_config(cfg.model)
    if not cfg.model_overrides:
        return base
    return from_dict(ModelConfig, merge_dicts(to_dict(base), cfg.model_overrides), where="model_overrides")
