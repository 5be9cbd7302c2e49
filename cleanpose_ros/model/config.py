"""ModelConfig: every width, count and radius of the CleanPose network, validated on construction.

Two named configs ship with the package (`config/model/paper.yaml`, `config/model/lite.yaml`);
`load_model_config("lite" | "paper" | "<path>.yaml")` finds and loads them. The config also
carries the preprocessing the network expects (`num_points`, `crop_size`), which the pipeline
copies into `core.config.PreprocessConfig`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

from cleanpose_ros.core.config import from_dict, load_yaml, require
from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.types import CATEGORIES, SYMMETRIC_CATEGORIES

logger = logging.getLogger(__name__)

NAMED_CONFIGS = ("paper", "lite")




@dataclass(frozen=True)
class ImageEncoderConfig:
    """Per-pixel image features gathered at the chosen pixels."""

    kind: Literal["dino", "resnet", "small_cnn"] = "small_cnn"
    out_channels: int = 128
    weights_path: str | None = None  # local file only; nothing is ever downloaded
    # small_cnn: channels of its stride-2 stages (the last one is the deepest)
    cnn_channels: tuple[int, ...] = (32, 64, 96)
    cnn_deep_convs: int = 1  # extra stride-1 3x3 convs at the deepest stage (receptive field)
    # dino (ViT-S/14 layout): kept as fields so a smaller ViT can be tried
    vit_dim: int = 384
    vit_depth: int = 12
    vit_heads: int = 6
    vit_patch: int = 14
    vit_pretrain_grid: int = 37  # DINOv2 checkpoints carry 37x37 position embeddings (518 px)
    # resnet: PSP pyramid bins (the crop's stride-8 feature map must be divisible by each)
    psp_bins: tuple[int, ...] = (1, 2, 4, 7)

    def __post_init__(self) -> None:
        require(self.out_channels >= 1, "image_encoder.out_channels must be >= 1")
        require(len(self.cnn_channels) >= 1 and all(c >= 1 for c in self.cnn_channels),
               "image_encoder.cnn_channels must be a non-empty list of positive ints")
        require(self.cnn_deep_convs >= 0, "image_encoder.cnn_deep_convs must be >= 0")
        require(self.vit_dim % self.vit_heads == 0, "image_encoder.vit_dim must be divisible by vit_heads")
        require(self.vit_patch >= 1 and self.vit_depth >= 1, "image_encoder.vit_patch/vit_depth must be >= 1")
        require(len(self.psp_bins) >= 1 and all(b >= 1 for b in self.psp_bins), "image_encoder.psp_bins must be positive")


@dataclass(frozen=True)
class PointEncoderConfig:
    """PointNet++ MSG: one entry per set-abstraction level; nsamples is per scale (shared by levels)."""

    npoints: tuple[int, ...] = (512, 256, 128, 64)
    radii: tuple[tuple[float, ...], ...] = ((0.01, 0.02), (0.02, 0.04), (0.04, 0.08), (0.08, 0.16))
    nsamples: tuple[int, ...] = (16, 32)
    sa_channels: tuple[int, ...] = (64, 128, 256, 512)  # output width of each level (sum over scales)
    fp_channels: tuple[int, ...] = (128, 128, 256, 256)  # feature-propagation width back to level i
    out_channels: int = 128
    # fps: farthest point sampling inside the graph (reference behaviour, a fixed-length loop);
    # strided: every k-th input point (free; preprocessing samples points in random order).
    sampling: Literal["fps", "strided"] = "fps"

    def __post_init__(self) -> None:
        n = len(self.npoints)
        require(n >= 1, "point_encoder.npoints must not be empty")
        require(len(self.radii) == n and len(self.sa_channels) == n and len(self.fp_channels) == n,
               "point_encoder.radii, sa_channels and fp_channels need one entry per level of npoints")
        require(all(a > b for a, b in zip(self.npoints, self.npoints[1:])), "point_encoder.npoints must decrease")
        require(all(len(r) == len(self.nsamples) for r in self.radii),
               "point_encoder: each level needs one radius per entry of nsamples")
        require(all(r > 0 for rs in self.radii for r in rs), "point_encoder.radii must be > 0")
        require(all(s >= 1 for s in self.nsamples), "point_encoder.nsamples must be >= 1")
        require(all(c % len(self.nsamples) == 0 for c in self.sa_channels),
               "point_encoder.sa_channels must be divisible by the number of scales")


@dataclass(frozen=True)
class KeypointConfig:
    num_keypoints: int = 96
    blocks: int = 4
    heads: int = 4
    ffn_dim: int = 256
    temperature: float = 0.1  # heatmap = softmax(cosine / temperature) over points

    def __post_init__(self) -> None:
        require(self.num_keypoints >= 2, "keypoints.num_keypoints must be >= 2")
        require(self.blocks >= 1 and self.heads >= 1 and self.ffn_dim >= 1, "keypoints: blocks/heads/ffn_dim >= 1")
        require(self.temperature > 0, "keypoints.temperature must be > 0")


@dataclass(frozen=True)
class AggregatorConfig:
    neighbours: tuple[int, ...] = (16, 32)  # one geometric-aware block per entry
    temperature: float = 5.0  # local weights = softmax(cosine / temperature) over neighbours
    pos_dim: int = 64  # hidden width of the position encoders

    def __post_init__(self) -> None:
        require(len(self.neighbours) >= 1 and all(k >= 1 for k in self.neighbours), "aggregator.neighbours >= 1")
        require(self.temperature > 0 and self.pos_dim >= 1, "aggregator.temperature/pos_dim must be > 0")


@dataclass(frozen=True)
class CausalConfig:
    enabled: bool = True
    queue_size: int = 80  # N_q entries per category
    num_samples: int = 12  # N_s entries sampled per forward
    self_blocks: int = 2
    cross_blocks: int = 4
    heads: int = 4
    ffn_dim: int = 256

    def __post_init__(self) -> None:
        require(self.queue_size >= 1, "causal.queue_size must be >= 1")
        require(1 <= self.num_samples <= self.queue_size, "causal.num_samples must be in [1, queue_size]")
        require(self.self_blocks >= 0 and self.cross_blocks >= 1 and self.heads >= 1, "causal: bad block counts")


@dataclass(frozen=True)
class NocsHeadConfig:
    hidden: int = 512
    bins: int = 64
    attention_blocks: int = 2

    def __post_init__(self) -> None:
        require(self.hidden >= 1 and self.bins >= 2 and self.attention_blocks >= 0, "nocs_head: bad sizes")


@dataclass(frozen=True)
class PoseHeadConfig:
    coord_dims: tuple[int, int] = (32, 64)  # MLP applied to each 3-d coordinate input
    hidden: int = 512
    fuse_dim: int = 256

    def __post_init__(self) -> None:
        require(all(c >= 1 for c in self.coord_dims) and self.hidden >= 1 and self.fuse_dim >= 1, "pose_head: bad sizes")


@dataclass(frozen=True)
class ReconConfig:
    enabled: bool = True
    points_per_keypoint: int = 10
    hidden: int = 256
    # NOCS units: observed points farther than this from the object model are left out of the
    # reconstruction Chamfer (reference objective; the legacy one drops reconstructed points instead)
    mask_distance: float = 0.1

    def __post_init__(self) -> None:
        require(self.points_per_keypoint >= 1 and self.hidden >= 1 and self.mask_distance > 0, "recon: bad sizes")


@dataclass(frozen=True)
class DistillConfig:
    enabled: bool = True
    teacher_dim: int = 768  # ULIP-2 PointBERT: concat(CLS, max-pool) of width 384
    residual_scale: float = 0.1

    def __post_init__(self) -> None:
        require(self.teacher_dim >= 1 and self.residual_scale >= 0, "distill: bad sizes")


@dataclass(frozen=True)
class LossWeights:
    ocd: float = 2.0
    div: float = 10.0
    nocs: float = 2.0
    pose: float = 0.3
    recon: float = 15.0
    delta: float = 1.0
    kd: float = 0.01

    def __post_init__(self) -> None:
        for name in ("ocd", "div", "nocs", "pose", "recon", "delta", "kd"):
            require(getattr(self, name) >= 0, f"loss_weights.{name} must be >= 0")


#: Weights of the authors' released code and of the paper (model.md, Losses table).
LOSS_PRESETS: dict[str, LossWeights] = {
    "code": LossWeights(),
    "paper": LossWeights(ocd=1.0, div=5.0, nocs=1.0, pose=0.3, recon=0.0, delta=0.0, kd=0.01),
}


@dataclass(frozen=True)
class LossConfig:
    div_threshold: float = 0.01  # metres between keypoints below which they are pushed apart
    nocs_beta: float = 0.1  # SmoothL1 beta of the NOCS loss
    # "reference": the released code's reductions (model.md, Losses); "legacy": this project's first
    # objective, kept for comparison (model/losses.py says what differs)
    objective: Literal["reference", "legacy"] = "reference"
    # mugs whose handle is not visible get the y-symmetric (canonicalised) target, as evaluation treats them
    mug_handle_symmetry: bool = True

    def __post_init__(self) -> None:
        require(self.div_threshold > 0 and self.nocs_beta > 0, "loss: thresholds must be > 0")
        require(self.objective in ("reference", "legacy"), f"loss.objective must be reference or legacy, got {self.objective!r}")


@dataclass(frozen=True)
class BatchAugmentConfig:
    """Random in-network augmentation of a training batch: rotation, shift, scale of the points with the
    ground truth mapped accordingly (the loader's colour / noise augmentation is data/augment.InputAugmentConfig)."""

    enabled: bool = True
    max_rotation_deg: float = 20.0  # per axis
    max_translation_m: float = 0.02
    scale_range: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self) -> None:
        require(self.max_rotation_deg >= 0 and self.max_translation_m >= 0, "augment: ranges must be >= 0")
        require(0 < self.scale_range[0] <= self.scale_range[1], "augment.scale_range must be 0 < lo <= hi")


@dataclass(frozen=True)
class ModelConfig:
    """The whole network. `num_points` and `crop_size` are the preprocessing it expects."""

    name: str = "custom"
    categories: tuple[str, ...] = CATEGORIES
    symmetric_categories: tuple[str, ...] = tuple(sorted(SYMMETRIC_CATEGORIES))
    num_points: int = 1024
    crop_size: int = 224
    feature_dim: int = 256  # width of fused point features, keypoint features and the causal module
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    point_encoder: PointEncoderConfig = field(default_factory=PointEncoderConfig)
    keypoints: KeypointConfig = field(default_factory=KeypointConfig)
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    causal: CausalConfig = field(default_factory=CausalConfig)
    nocs_head: NocsHeadConfig = field(default_factory=NocsHeadConfig)
    pose_head: PoseHeadConfig = field(default_factory=PoseHeadConfig)
    recon: ReconConfig = field(default_factory=ReconConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    loss_weights: Union[Literal["code", "paper"], LossWeights] = "code"
    loss: LossConfig = field(default_factory=LossConfig)
    augment: BatchAugmentConfig = field(default_factory=BatchAugmentConfig)
    attention_heads: int = 4  # aggregator / NOCS head self-attention

    def __post_init__(self) -> None:
        require(len(self.categories) >= 1 and len(set(self.categories)) == len(self.categories),
               "categories must be a non-empty list of distinct names")
        unknown = sorted(set(self.symmetric_categories) - set(self.categories))
        require(not unknown, f"symmetric_categories {unknown} are not in categories")
        require(self.num_points >= 16, f"num_points must be >= 16, got {self.num_points}")
        require(self.crop_size >= 16, f"crop_size must be >= 16, got {self.crop_size}")
        require(self.feature_dim >= 8 and self.feature_dim % self.attention_heads == 0,
               "feature_dim must be >= 8 and divisible by attention_heads")
        require(self.image_encoder.out_channels + self.point_encoder.out_channels == self.feature_dim,
               "feature_dim must equal image_encoder.out_channels + point_encoder.out_channels (fused by concat)")
        require(self.feature_dim % self.keypoints.heads == 0, "feature_dim must be divisible by keypoints.heads")
        require(self.feature_dim % self.causal.heads == 0, "feature_dim must be divisible by causal.heads")
        require(self.point_encoder.npoints[0] <= self.num_points,
               f"point_encoder.npoints[0]={self.point_encoder.npoints[0]} exceeds num_points={self.num_points}")
        require(max(self.point_encoder.nsamples) <= self.num_points, "point_encoder.nsamples exceed num_points")
        require(max(self.aggregator.neighbours) <= self.num_points, "aggregator.neighbours exceed num_points")
        if self.image_encoder.kind == "dino":
            require(self.crop_size % self.image_encoder.vit_patch == 0,
                   f"dino needs crop_size divisible by {self.image_encoder.vit_patch}, got {self.crop_size}")
        if self.image_encoder.kind == "resnet":
            side = -(-self.crop_size // 8)
            bad = [b for b in self.image_encoder.psp_bins if side % b]
            require(not bad, f"resnet: stride-8 feature side {side} is not divisible by psp_bins {bad}")

    @property
    def num_categories(self) -> int:
        return len(self.categories)

    @property
    def symmetric_mask(self) -> tuple[bool, ...]:
        return tuple(c in self.symmetric_categories for c in self.categories)

    @property
    def weights(self) -> LossWeights:
        """The resolved loss weights (a preset name or explicit values)."""
        if isinstance(self.loss_weights, LossWeights):
            return self.loss_weights
        return LOSS_PRESETS[self.loss_weights]


def model_config_dirs() -> list[Path]:
    """Where named configs are looked up: the checkout, then the install shares (cleanpose_ros.resources)."""
    from cleanpose_ros.resources import share_dirs

    return [root / "config" / "model" for root in share_dirs()]


def load_model_config(name_or_path: str) -> ModelConfig:
    """Load a named config (`paper`, `lite`) or a YAML file path into a validated ModelConfig."""
    if name_or_path in NAMED_CONFIGS:
        for directory in model_config_dirs():
            candidate = directory / f"{name_or_path}.yaml"
            if candidate.is_file():
                logger.debug("model config %s from %s", name_or_path, candidate)
                return load_yaml(ModelConfig, candidate)
        raise ConfigError(f"named model config {name_or_path!r} not found in {[str(d) for d in model_config_dirs()]}")
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"model config {name_or_path!r} is neither one of {list(NAMED_CONFIGS)} nor a file")
    return load_yaml(ModelConfig, path)


def model_config_from_dict(data: dict) -> ModelConfig:
    """Rebuild a ModelConfig from its `core.config.to_dict` form (e.g. stored in a checkpoint)."""
    return from_dict(ModelConfig, data)
