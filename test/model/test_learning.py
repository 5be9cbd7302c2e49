"""The lite network can learn: it overfits a handful of generated objects (boxes and a cylinder
with random rotations) to small pose error within a bounded number of CPU steps."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from cleanpose_ros.model.config import ModelConfig
from cleanpose_ros.model.network import CleanPose
from cleanpose_ros.model.rotation import random_rotation, rotation_angle_deg

STEPS = 150


def _objects(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Surface points of boxes (camera, laptop: non-symmetric) and a cylinder (can, symmetric about y)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [("box", 4, (0.12, 0.08, 0.10)), ("box", 2, (0.10, 0.07, 0.05)), ("cylinder", 3, (0.07, 0.12, 0.07)),
             ("box", 4, (0.14, 0.03, 0.11))]
    n, s = config.num_points, config.crop_size
    fields: dict[str, list] = {k: [] for k in ("points", "gt_rotation", "gt_translation", "gt_size", "category",
                                               "model_points")}
    for kind, category, size in specs:
        size_m = np.array(size)
        if kind == "box":
            p = rng.uniform(-0.5, 0.5, size=(n, 3))
            face = rng.integers(3, size=n)
            p[np.arange(n), face] = np.sign(p[np.arange(n), face]) * 0.5
        else:
            angle, height = rng.uniform(0, 2 * np.pi, n), rng.uniform(-0.5, 0.5, n)
            p = np.stack([0.5 * np.cos(angle), height, 0.5 * np.sin(angle)], 1)
        p = p * size_m
        rotation = random_rotation(1, 180.0, g)[0].numpy()
        translation = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.5, 1.0)])
        fields["points"].append(p @ rotation.T + translation)
        fields["gt_rotation"].append(rotation)
        fields["gt_translation"].append(translation)
        fields["gt_size"].append(size_m)
        fields["category"].append(category)
        fields["model_points"].append(p / np.linalg.norm(size_m))
    batch = {k: torch.tensor(np.stack(v), dtype=torch.float32) for k, v in fields.items() if k != "category"}
    b = len(specs)
    batch["category"] = torch.tensor(fields["category"])
    batch["rgb"] = torch.randn(b, 3, s, s, generator=g)
    batch["choose"] = torch.randint(0, s * s, (b, n), generator=g)
    return batch


def test_lite_overfits_generated_objects(lite_config: ModelConfig) -> None:
    config = replace(lite_config, augment=replace(lite_config.augment, enabled=False))
    torch.manual_seed(0)
    model = CleanPose(config)
    batch = _objects(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    first = None
    for _ in range(STEPS):
        loss, terms = model.training_step(batch)
        first = first if first is not None else terms
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        rotation, translation, size = model.predict(batch["rgb"], batch["points"], batch["choose"], batch["category"])
    gt = batch["gt_rotation"]
    symmetric = batch["category"] == 3
    y_angle = torch.rad2deg(torch.arccos((rotation[:, :, 1] * gt[:, :, 1]).sum(-1).clamp(-1, 1)))
    rotation_error = torch.where(symmetric, y_angle, rotation_angle_deg(rotation, gt))
    translation_error_cm = (translation - batch["gt_translation"]).norm(dim=-1) * 100
    size_error_cm = (size - batch["gt_size"]).abs().max(-1).values * 100
    assert float(rotation_error.max()) < 5.0, rotation_error
    assert float(translation_error_cm.max()) < 1.0, translation_error_cm
    assert float(size_error_cm.max()) < 1.0, size_error_cm
    assert terms["pose"] < 0.2 * first["pose"]
