"""CleanPose: category-level 6D pose and size from an RGB crop and the object's depth points.

Data flow (B objects, N points, K keypoints, D = feature_dim):
  points (B, N, 3) camera metres -> centre c = mean, centred points
  image encoder at the chosen pixels (B, N, C_img) + PointNet++ (B, N, C_pts) -> fused (B, N, D)
  keypoint detector -> kpt_3d (B, K, 3), kpt_feat (B, K, D); geometric-aware aggregator
  front-door causal module with N_s confounders from the per-category queue -> (B, K, D)
  NOCS head -> kpt_nocs (B, K, 3); pose head -> R (B, 3, 3), t = c + offset (B, 3), size (B, 3) metres
Output convention: p_cam = ||size|| * R @ p_nocs + t.

Confounder queue API (see confounder_queue.py):
- forward_train fills a category's queue from the detached, keypoint-mean-pooled aggregator
  features ("encoder features") of its first N_q training instances; once it is full, every
  training step pushes the detached pooled causal-module output of each instance (FIFO).
- `initialize_queue(batches)` fills the queues up front from an iterable of batches (no gradients).
- eval mode and the exported graph use fixed samples: `set_inference_seed(seed)` (default 0) draws
  them; the queue and the fixed indices are buffers, saved in every checkpoint.

Distillation: `attach_teacher(teacher)` (a frozen module mapping centred points (B, N, 3) to
(B, teacher_dim)) or `teacher_features` in the batch; without either the KD term is skipped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, TypedDict

import torch
from torch import Tensor, nn

from .aggregator import GeometricAwareAggregator
from .causal import FrontDoorCausalModule
from .config import ModelConfig
from .confounder_queue import ConfounderQueue
from .heads import DistillationProjector, NocsHead, PoseSizeHead, ReconstructionHead
from .image_encoders import build_image_encoder
from .keypoints import KeypointDetector
from .losses import TrainingObjective
from .point_encoder import PointNet2MSG
from .rotation import canonicalise_symmetric, random_rotation

logger = logging.getLogger(__name__)

INPUT_KEYS = ("rgb", "points", "choose", "category")


@dataclass(frozen=True)
class NetworkOutputs:
    """What `CleanPose.forward` returns: the inference outputs of a batch of B objects (K keypoints)."""

    rotation: Tensor  # (B, 3, 3) canonical -> camera
    translation: Tensor  # (B, 3) metres, box centre in the camera frame
    size: Tensor  # (B, 3) metres
    kpt_nocs: Tensor  # (B, K, 3) the keypoints' NOCS coordinates
    kpt_3d: Tensor  # (B, K, 3) the keypoints' positions, metres, relative to `centre`
    centre: Tensor  # (B, 3) mean of the input points (camera frame, metres)
    point_feat: Tensor  # (B, N, C_pts) point-encoder features
    mediator: Tensor  # (B, K, D) aggregator features before the causal module
    kpt_feat: Tensor  # (B, K, D) keypoint features the heads read

    @property
    def kpt_cam(self) -> Tensor:
        """(B, K, 3) keypoint positions in the camera frame, metres."""
        return self.kpt_3d + self.centre.unsqueeze(1)


@dataclass(frozen=True)
class BatchShard:
    """This process's part of a batch that data-parallel training (training/distributed.py) split over
    processes: its rows of the whole batch, the whole batch's size, and `gather`, which turns this
    process's (b, ...) tensor into the whole batch's (size, ...) (every process's rows in order).

    The training forward uses it to draw the randomness of the whole batch and keep its rows, and to
    update the confounder queue with the whole batch; so every process computes what one process with
    the whole batch computes for those rows. None everywhere means one process with the whole batch.
    """

    rows: slice
    size: int
    gather: Callable[[Tensor], Tensor]


class TrainOutputs(TypedDict, total=False):
    """What `CleanPose.forward_train` returns (a dict: the objective, the health metrics and the queue
    update read it; `total=False` because the recon / distillation / queue entries depend on the config
    and the batch). Shapes as in NetworkOutputs; gt_* after augmentation."""

    rotation: Tensor
    translation: Tensor
    size: Tensor
    kpt_nocs: Tensor
    kpt_feat: Tensor
    centre: Tensor
    points: Tensor  # (B, N, 3) centred input points
    kpt_3d: Tensor
    point_feat: Tensor
    points_cam: Tensor  # (B, N, 3) the (augmented) input points, camera frame
    category: Tensor
    gt_rotation: Tensor  # symmetric spin removed where y-symmetry makes it unobservable
    y_symmetric: Tensor
    gt_translation: Tensor
    gt_size: Tensor
    pooled: Tensor  # (B, D) detached pooled causal-module output (queue update)
    queue_full: Tensor  # (B,) bool: the instance's category queue was full before this step
    recon: Tensor
    recon_delta: Tensor
    model_points: Tensor
    object_mask: Tensor
    student: Tensor
    teacher: Tensor


class CleanPose(nn.Module):
    def __init__(self, config: ModelConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        dim = config.feature_dim
        self.image_encoder = build_image_encoder(config.image_encoder, config.crop_size)
        self.point_encoder = PointNet2MSG(config.point_encoder)
        self.keypoints = KeypointDetector(config.keypoints, dim)
        self.aggregator = GeometricAwareAggregator(config.aggregator, dim)
        self.causal: FrontDoorCausalModule | None = None
        self.queue: ConfounderQueue | None = None
        if config.causal.enabled:
            self.causal = FrontDoorCausalModule(config.causal, dim)
            self.queue = ConfounderQueue(config.num_categories, config.causal.queue_size,
                                         config.causal.num_samples, dim, seed=seed)
        self.nocs_head = NocsHead(config.nocs_head, dim, config.num_categories, config.attention_heads)
        self.pose_head = PoseSizeHead(config.pose_head, dim)
        self.recon = ReconstructionHead(config.recon, dim) if config.recon.enabled else None
        self.distill = (DistillationProjector(config.point_encoder.out_channels, config.distill.teacher_dim,
                                              config.distill.residual_scale) if config.distill.enabled else None)
        self.register_buffer("symmetric", torch.tensor(config.symmetric_mask, dtype=torch.bool), persistent=False)
        self._teacher: list[nn.Module] = []  # a list keeps the teacher out of state_dict and parameters()
        self._generator = torch.Generator().manual_seed(seed)

    # ------------------------------------------------------------------ shared forward pieces
    def _encode(self, rgb: Tensor, points: Tensor, choose: Tensor) -> dict[str, Tensor]:
        centre = points.mean(1, keepdim=True)
        pts = points - centre
        image_feat = self.image_encoder(rgb, choose)  # (B, N, C_img)
        point_feat = self.point_encoder(pts)  # (B, N, C_pts)
        fused = torch.cat([point_feat, image_feat], dim=-1)  # (B, N, D)
        kpt_3d, kpt_feat, _ = self.keypoints(pts, fused)
        # positions enter the aggregator detached, as in the reference: only ocd / div / nocs / recon move them
        kpt_feat = self.aggregator(kpt_3d.detach(), kpt_feat, pts, fused)
        return {"centre": centre.squeeze(1), "points": pts, "point_feat": point_feat, "kpt_3d": kpt_3d,
                "mediator": kpt_feat}

    def _confounders(self, category: Tensor) -> Tensor:
        if self.queue is None:
            raise RuntimeError("the causal module needs the confounder queue, which this model was built without")
        if self.training:
            return self.queue.sample(category, self._generator).to(category.device)
        return self.queue.inference_samples(category)

    def _decode(self, enc: dict[str, Tensor], kpt_feat: Tensor, category: Tensor) -> dict[str, Tensor]:
        kpt_nocs = self.nocs_head(kpt_feat, category)
        # NOCS enters the pose head detached, as in the reference: the pose loss must not bend NOCS.
        rotation, offset, size = self.pose_head(enc["kpt_3d"], kpt_nocs.detach(), kpt_feat)
        return {"kpt_nocs": kpt_nocs, "rotation": rotation, "translation": enc["centre"] + offset, "size": size,
                "kpt_feat": kpt_feat}

    def forward(self, rgb: Tensor, points: Tensor, choose: Tensor, category: Tensor) -> NetworkOutputs:
        """The network on a batch: NetworkOutputs (no augmentation, no loss inputs, no queue update;
        training uses forward_train)."""
        enc = self._encode(rgb, points, choose)
        kpt_feat = enc["mediator"]
        if self.causal is not None:
            kpt_feat = self.causal(kpt_feat, self._confounders(category))
        out = self._decode(enc, kpt_feat, category)
        return NetworkOutputs(rotation=out["rotation"], translation=out["translation"], size=out["size"],
                              kpt_nocs=out["kpt_nocs"], kpt_3d=enc["kpt_3d"], centre=enc["centre"],
                              point_feat=enc["point_feat"], mediator=enc["mediator"], kpt_feat=out["kpt_feat"])

    def predict(self, rgb: Tensor, points: Tensor, choose: Tensor, category: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(rotation (B, 3, 3), translation (B, 3) metres, size (B, 3) metres)."""
        out = self.forward(rgb, points, choose, category)
        return out.rotation, out.translation, out.size

    def predict_with_keypoints(self, rgb: Tensor, points: Tensor, choose: Tensor,
                               category: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """predict() plus the keypoints' NOCS coordinates (B, K, 3) and camera positions (B, K, 3) metres:
        what a similarity fit needs for a second, NOCS-path estimate of the rotation."""
        out = self.forward(rgb, points, choose, category)
        return out.rotation, out.translation, out.size, out.kpt_nocs, out.kpt_cam

    def inference_module(self, keypoints: bool = False) -> nn.Module:
        """The eval-mode inference graph (shares this model's weights; puts the model in eval mode).
        keypoints=True adds the outputs kpt_nocs and kpt_cam (engines use it)."""
        self.eval()
        return CleanPoseInference(self, keypoints).eval()

    def set_inference_seed(self, seed: int) -> None:
        """Fix the confounder samples used in eval mode / ONNX (same seed -> same outputs)."""
        if self.queue is not None:
            self.queue.set_inference_seed(seed)

    # ------------------------------------------------------------------ training
    def attach_teacher(self, teacher: nn.Module | None) -> None:
        """Frozen distillation teacher: centred points (B, N, 3) -> (B, teacher_dim); None detaches."""
        self._teacher.clear()
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
            self._teacher.append(teacher)

    @property
    def teacher(self) -> nn.Module | None:
        return self._teacher[0] if self._teacher else None

    def _augment(self, batch: dict[str, Tensor], shard: BatchShard | None = None) -> dict[str, Tensor]:
        """Random rotation / translation / scale of the points about their centroid, ground truth mapped.
        With a shard, the numbers of the whole batch are drawn and this shard's rows kept."""
        aug = self.config.augment
        points = batch["points"]
        b = points.shape[0]
        drawn, rows = (b, slice(None)) if shard is None else (shard.size, shard.rows)
        gen = self._generator
        rot = random_rotation(drawn, aug.max_rotation_deg, gen)[rows].to(points)
        shift = ((torch.rand(drawn, 3, generator=gen) * 2 - 1) * aug.max_translation_m)[rows].to(points)
        lo, hi = aug.scale_range
        scale = (lo + torch.rand(drawn, generator=gen) * (hi - lo))[rows].to(points)
        centre = points.mean(1, keepdim=True)
        s = scale.view(b, 1, 1)
        out = dict(batch)
        # p' = s * A (p - c) + c + d   =>   R' = A R, t' = s * A (t - c) + c + d, size' = s * size
        out["points"] = s * (points - centre) @ rot.transpose(1, 2) + centre + shift.unsqueeze(1)
        out["gt_rotation"] = rot @ batch["gt_rotation"]
        out["gt_translation"] = (s * (batch["gt_translation"].unsqueeze(1) - centre) @ rot.transpose(1, 2)
                                 + centre).squeeze(1) + shift
        out["gt_size"] = batch["gt_size"] * scale.view(b, 1)
        return out

    def _training_rotation_target(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Ground-truth rotation with the spin about y removed where y-symmetry makes it unobservable:
        the symmetric categories, and mugs whose handle is not visible (when the batch says so)."""
        category = batch["category"]
        symmetric = self.symmetric[category]
        if (self.config.loss.mug_handle_symmetry and "handle_visibility" in batch
                and "mug" in self.config.categories):
            mug = category == self.config.categories.index("mug")
            symmetric = symmetric | (mug & (batch["handle_visibility"].reshape(-1) == 0))
        return canonicalise_symmetric(batch["gt_rotation"], symmetric), symmetric

    def forward_train(self, batch: Mapping[str, Tensor], shard: BatchShard | None = None) -> TrainOutputs:
        """The training forward pass: augmentation, network, reconstruction and distillation branches.
        `shard`: this process's part of a data-parallel batch (BatchShard); None = the whole batch.

        Keys in: rgb, points, choose, category, gt_rotation, gt_translation, gt_size (metres), optional
        model_points (B, M, 3) NOCS (recon skipped without it), handle_visibility, teacher_features.
        Returns every tensor `losses.TrainingObjective` reads (its docstring lists them), plus `pooled`
        and `queue_full` for `update_queue`. Fills not-yet-full confounder queues (training mode).
        """
        missing = [k for k in (*INPUT_KEYS, "gt_rotation", "gt_translation", "gt_size") if k not in batch]
        if missing:
            raise KeyError(f"training batch lacks {missing}")
        batch = dict(batch)
        if self.training and self.config.augment.enabled:
            batch = self._augment(batch, shard)
        category = batch["category"]
        enc = self._encode(batch["rgb"], batch["points"], batch["choose"])
        kpt_feat = enc["mediator"]
        out: TrainOutputs = {}
        if self.causal is not None and self.queue is not None:
            # queue fill and confounder draws see the whole batch (all shards), in batch order
            gather = shard.gather if shard is not None else (lambda t: t)
            rows = shard.rows if shard is not None else slice(None)
            whole_category = gather(category)
            was_full = self.queue.is_full()[whole_category]
            if self.training and not bool(was_full.all()):
                pooled = gather(kpt_feat.detach().mean(1))
                self.queue.fill(whole_category[~was_full], pooled[~was_full])
            kpt_feat = self.causal(kpt_feat, self._confounders(whole_category)[rows])
            out["queue_full"] = was_full[rows]
        out.update(self._decode(enc, kpt_feat, category))
        out.update({k: enc[k] for k in ("centre", "points", "kpt_3d", "point_feat")})
        gt_rotation, y_symmetric = self._training_rotation_target(batch)
        out.update(points_cam=batch["points"], category=category, gt_rotation=gt_rotation, y_symmetric=y_symmetric,
                   gt_translation=batch["gt_translation"], gt_size=batch["gt_size"], pooled=kpt_feat.detach().mean(1))
        if self.recon is not None and "model_points" in batch:
            # reference: offsets around the 3D keypoints (centred metres), compared with the observed points;
            # legacy: offsets around kpt_nocs, compared with the CAD model in NOCS units
            anchor = out["kpt_nocs"] if self.config.loss.objective == "legacy" else enc["kpt_3d"]
            out["recon"], out["recon_delta"] = self.recon(kpt_feat, anchor)
            out["model_points"] = batch["model_points"]
            if "object_mask" in batch:  # precomputed by the sample cache (data/sample_cache.py)
                out["object_mask"] = batch["object_mask"]
        if self.distill is not None:
            teacher_feat = batch.get("teacher_features")
            if teacher_feat is None and self.teacher is not None:
                with torch.no_grad():
                    teacher_feat = self.teacher(enc["points"])
            if teacher_feat is not None:
                out["student"] = self.distill(enc["point_feat"])
                out["teacher"] = teacher_feat
        return out

    @torch.no_grad()
    def update_queue(self, out: Mapping[str, Tensor], shard: BatchShard | None = None) -> None:
        """After a training step: push the pooled causal-module outputs of the instances whose
        category queue was already full before the step (FIFO; training mode only). With a shard,
        those of the whole batch, so the queues of all processes stay equal."""
        if not self.training or self.queue is None or "queue_full" not in out:
            return
        gather = shard.gather if shard is not None else (lambda t: t)
        full, category, pooled = gather(out["queue_full"]), gather(out["category"]), gather(out["pooled"])
        if bool(full.any()):
            self.queue.push(category[full], pooled[full])

    def training_step(self, batch: Mapping[str, Tensor],
                      objective: TrainingObjective | None = None) -> tuple[Tensor, dict[str, float]]:
        """forward_train + the objective + update_queue in one call (weighted total, logged terms)."""
        out = self.forward_train(batch)
        total, values = (objective or TrainingObjective(self.config))(out)
        self.update_queue(out)
        return total, values

    @torch.no_grad()
    def initialize_queue(self, batches: Iterable[Mapping[str, Tensor]], max_batches: int | None = None,
                         categories: Iterable[int] | None = None) -> int:
        """Fill every category's queue from pooled encoder features of the first training instances.

        Stops when the queues of `categories` (0-based; default all) are full, the batches run out or
        after max_batches; returns the number of batches used. Passing the categories the training data
        holds avoids reading the whole dataset for a class it never yields (a category-subset split).
        The model's train/eval mode is restored afterwards.
        """
        if self.queue is None:
            return 0
        wanted = torch.zeros(self.config.num_categories, dtype=torch.bool)
        wanted[list(categories) if categories is not None else slice(None)] = True
        was_training = self.training
        self.eval()  # batch-norm statistics must not move while we only collect features
        used = 0
        try:
            for batch in batches:
                if bool(self.queue.is_full().cpu()[wanted].all()) or (max_batches is not None and used >= max_batches):
                    break
                enc = self._encode(batch["rgb"], batch["points"], batch["choose"])
                self.queue.fill(batch["category"], enc["mediator"].mean(1))
                used += 1
        finally:
            self.train(was_training)
        if not bool(self.queue.is_full().cpu()[wanted].all()):
            logger.warning("confounder queue not full after %d batches: counts %s", used, self.queue.count.tolist())
        return used

    def parameter_count(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


class CleanPoseInference(nn.Module):
    """forward(rgb, points, choose, category) -> (rotation, translation, size[, kpt_nocs, kpt_cam]);
    for tracing / ONNX."""

    def __init__(self, model: CleanPose, keypoints: bool = False) -> None:
        super().__init__()
        self.model = model
        self.keypoints = keypoints

    def forward(self, rgb: Tensor, points: Tensor, choose: Tensor, category: Tensor) -> tuple[Tensor, ...]:
        if self.keypoints:
            return self.model.predict_with_keypoints(rgb, points, choose, category)
        return self.model.predict(rgb, points, choose, category)


def example_inputs(config: ModelConfig, batch: int, seed: int = 0) -> dict[str, Tensor]:
    """Random but well-formed inputs (an object ~10 cm across, 0.5-1 m away) for tests, export and benchmarks."""
    g = torch.Generator().manual_seed(seed)
    n, s = config.num_points, config.crop_size
    points = (torch.rand(batch, n, 3, generator=g) - 0.5) * 0.1
    points = points + torch.tensor([0.0, 0.0, 0.7]) + (torch.rand(batch, 1, 3, generator=g) - 0.5) * 0.3
    return {
        "rgb": torch.randn(batch, 3, s, s, generator=g),
        "points": points,
        "choose": torch.randint(0, s * s, (batch, n), generator=g),
        "category": torch.randint(0, config.num_categories, (batch,), generator=g),
    }


