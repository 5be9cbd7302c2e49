"""Deterministic synthetic RGB-D frames for engine parity checks and benchmarks.

Not a training-data generator (that is cleanpose_ros/data): just a table plane with N ellipsoid
"objects" in front of it, with exact depth, masks and textured colour, so that every object has
enough valid points and a realistic crop size. Used when no fixture dataset is at hand.
"""
from __future__ import annotations

import numpy as np

from ..core.types import CATEGORIES, REAL275_INTRINSICS, CameraIntrinsics, Frame, Instance


def synthetic_frame(num_objects: int, seed: int = 0, intrinsics: CameraIntrinsics = REAL275_INTRINSICS
                    ) -> tuple[Frame, list[Instance]]:
    """A frame with `num_objects` ellipsoids (random sizes 5-20 cm) at 0.6-1.2 m over a plane at 1.5 m.

    Objects are placed on a grid so they barely overlap; each instance's mask is its visible
    pixels. Categories cycle through CATEGORIES, scores decrease from 0.99.
    """
    rng = np.random.default_rng(seed)
    h, w = intrinsics.height, intrinsics.width
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    ray_x = (u - intrinsics.cx) / intrinsics.fx
    ray_y = (v - intrinsics.cy) / intrinsics.fy
    depth = np.full((h, w), 1.5)
    label = np.zeros((h, w), np.int32)
    cols = int(np.ceil(np.sqrt(num_objects * w / h)))
    rows = int(np.ceil(num_objects / cols))
    for k in range(num_objects):
        z0 = rng.uniform(0.6, 1.2)
        cell_u = (k % cols + 0.5 + rng.uniform(-0.15, 0.15)) * w / cols
        cell_v = (k // cols + 0.5 + rng.uniform(-0.15, 0.15)) * h / rows
        centre = np.array([(cell_u - intrinsics.cx) * z0 / intrinsics.fx,
                           (cell_v - intrinsics.cy) * z0 / intrinsics.fy, z0])
        radii = rng.uniform(0.025, 0.1, 3)
        # ray-ellipsoid intersection, nearest hit: |(t * d - c) / r|^2 = 1
        d = np.stack([ray_x, ray_y, np.ones_like(ray_x)], axis=-1) / radii
        c = centre / radii
        a = (d * d).sum(-1)
        b = -2.0 * (d * c).sum(-1)
        disc = b * b - 4 * a * ((c * c).sum() - 1.0)
        hit = disc > 0
        t = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0.0))) / (2 * a), np.inf)
        closer = hit & (t < depth)
        depth[closer] = t[closer]
        label[closer] = k + 1
    texture = rng.integers(0, 256, size=(num_objects + 1, 3))
    noise = rng.integers(-20, 21, size=(h, w, 1))
    rgb = np.clip(texture[label] + noise, 0, 255).astype(np.uint8)
    frame = Frame(rgb=rgb, depth_m=depth.astype(np.float32), intrinsics=intrinsics, stamp_ns=int(seed))
    instances = [Instance(instance_id=k + 1, category=CATEGORIES[k % len(CATEGORIES)], mask=label == k + 1,
                          score=round(0.99 - 0.01 * k, 4)) for k in range(num_objects)]
    return frame, instances
