"""Pretraining of the small PointNet distillation teacher on procedural shapes of the categories
(cleanpose_ros.data.shapes): random instance, random rotation, random metric scale, partial view
(only points facing a random direction, as a depth camera would see), Gaussian noise. Tasks:
category classification and normalised box-size regression. Used when no ULIP-2 file exists."""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from cleanpose_ros.core.geometry import random_rotation
from cleanpose_ros.core.types import CATEGORIES
from cleanpose_ros.data.shapes import CategoryShape, make_shape

from .teacher import PointNetTeacher

logger = logging.getLogger(__name__)


def make_shape_pool(rng: np.random.Generator, per_category: int,
                    categories: tuple[str, ...] = CATEGORIES) -> list[list[CategoryShape]]:
    """Procedural instances per category, built once (building a mesh costs far more than sampling it)."""
    return [[make_shape(c, rng) for _ in range(per_category)] for c in categories]


def synthetic_teacher_batch(rng: np.random.Generator, batch: int, num_points: int,
                            pool: list[list[CategoryShape]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(points (B, N, 3) centred metres, category (B,), normalised size (B, 3)) from a shape pool."""
    pts, cats, sizes = [], [], []
    for _ in range(batch):
        c = int(rng.integers(len(pool)))
        shape = pool[c][int(rng.integers(len(pool[c])))]
        surface = shape.sample_surface(num_points * 3, rng).astype(np.float64)
        view = rng.normal(size=3)
        view /= np.linalg.norm(view)
        rotation = random_rotation(rng)
        # Keep the half facing the viewer (a partial, depth-like view), then resample to N points.
        facing = surface @ (rotation.T @ view) >= np.median(surface @ (rotation.T @ view))
        visible = surface[facing]
        choice = rng.choice(len(visible), num_points, replace=len(visible) < num_points)
        p = (visible[choice] @ rotation.T) * shape.scale * rng.uniform(0.8, 1.2)
        p += rng.normal(scale=0.001, size=p.shape)
        pts.append(p - p.mean(0))
        cats.append(c)
        sizes.append(shape.nocs_size)
    return (torch.tensor(np.stack(pts), dtype=torch.float32), torch.tensor(cats),
            torch.tensor(np.stack(sizes), dtype=torch.float32))


def pretrain_pointnet_teacher(steps: int = 2000, batch: int = 32, num_points: int = 512, lr: float = 1e-3,
                              seed: int = 0, shapes_per_category: int = 32, progress: bool = True
                              ) -> tuple[PointNetTeacher, dict[str, float]]:
    """Train a PointNetTeacher; returns it (eval mode) and metrics (accuracy, size error) on unseen shapes."""
    rng = np.random.default_rng(seed)
    pool = make_shape_pool(rng, shapes_per_category)
    held_out = make_shape_pool(rng, 4)
    torch.manual_seed(seed)
    teacher = PointNetTeacher(len(CATEGORIES))
    optimiser = torch.optim.Adam(teacher.parameters(), lr=lr)
    teacher.train()
    for _ in tqdm(range(steps), desc="teacher pretraining", disable=not progress):
        points, category, size = synthetic_teacher_batch(rng, batch, num_points, pool)
        logits, size_pred = teacher.predict(points)
        loss = F.cross_entropy(logits, category) + 10.0 * F.smooth_l1_loss(size_pred, size, beta=0.05)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    teacher.eval()
    points, category, size = synthetic_teacher_batch(rng, 64, num_points, held_out)
    with torch.no_grad():
        logits, size_pred = teacher.predict(points)
    metrics = {"accuracy": float((logits.argmax(-1) == category).float().mean()),
               "size_abs_error": float((size_pred - size).abs().mean())}
    teacher.source = f"self-pretrained on procedural shapes, {steps} steps, seed {seed}"
    logger.info("teacher pretraining done: %s", metrics)
    return teacher, metrics
