"""Overview image of a NOCS-format frame: colour with ground-truth boxes and axes, depth, mask, NOCS map."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core.types import CATEGORIES, CameraIntrinsics

logger = logging.getLogger(__name__)

_BOX_EDGES = [(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def _project(points: np.ndarray, k: CameraIntrinsics) -> list[tuple[float, float]]:
    z = np.maximum(points[:, 2], 1e-6)
    return list(zip((k.fx * points[:, 0] / z + k.cx).tolist(), (k.fy * points[:, 1] / z + k.cy).tolist()))


def _depth_colour(depth_m: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    valid = depth_m > 0
    lo, hi = (np.percentile(depth_m[valid], [1, 99]) if valid.any() else (0.0, 1.0))
    norm = np.clip((depth_m - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = (colormaps["turbo"](norm)[:, :, :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def _mask_colour(mask: np.ndarray) -> np.ndarray:
    palette = (np.random.default_rng(3).random((256, 3)) * 200 + 55).astype(np.uint8)
    palette[255] = 0
    return palette[mask]


def draw_pose(draw: ImageDraw.ImageDraw, k: CameraIntrinsics, rotation: np.ndarray, translation: np.ndarray,
              size_m: np.ndarray, colour: tuple[int, int, int], label: str = "") -> None:
    """Wire box of the metric size and canonical axes (x red, y green, z blue) at a pose."""
    half = np.asarray(size_m) / 2
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    cam = corners @ np.asarray(rotation).T + translation
    if np.any(cam[:, 2] <= 0.01):
        return
    uv = _project(cam, k)
    for a, b in _BOX_EDGES:
        draw.line([uv[a], uv[b]], fill=colour, width=2)
    axes = np.vstack([np.zeros(3), np.diag(half)]) @ np.asarray(rotation).T + translation
    auv = _project(axes, k)
    for i, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 80, 255)]):
        draw.line([auv[0], auv[i + 1]], fill=c, width=3)
    if label:
        draw.text((min(u for u, _ in uv), min(v for _, v in uv) - 12), label, fill=colour)


def make_overview(rgb: np.ndarray, depth_m: np.ndarray, mask: np.ndarray, coord_rgb: np.ndarray,
                  intrinsics: CameraIntrinsics, poses: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
                  scale: float = 0.5) -> Image.Image:
    """2x2 panel; poses are (class_id 1..6, rotation, translation, metric size)."""
    colour = Image.fromarray(rgb.copy())
    draw = ImageDraw.Draw(colour)
    for class_id, r, t, size in poses:
        draw_pose(draw, intrinsics, r, t, size, (255, 255, 0), CATEGORIES[class_id - 1])
    panels = [colour, Image.fromarray(_depth_colour(depth_m)), Image.fromarray(_mask_colour(mask)),
              Image.fromarray(coord_rgb)]
    h, w = rgb.shape[:2]
    canvas = Image.new("RGB", (2 * w, 2 * h))
    for i, p in enumerate(panels):
        canvas.paste(p, ((i % 2) * w, (i // 2) * h))
    if scale != 1.0:
        canvas = canvas.resize((int(2 * w * scale), int(2 * h * scale)), Image.BILINEAR)
    return canvas


def overview_from_files(prefix: Path, intrinsics: CameraIntrinsics) -> Image.Image:
    """Overview of a frame written in the NOCS format (reads the files back, so it checks them too)."""
    from .nocs_reader import load_frame_files

    files = load_frame_files(prefix)
    lab = files.label
    poses = []
    if lab is not None:
        for i in range(len(lab["class_ids"])):
            size = lab["sizes"][i] * lab["scales"][i]
            poses.append((int(lab["class_ids"][i]), lab["rotations"][i], lab["translations"][i], size))
    return make_overview(files.rgb, files.depth_m, files.mask, files.coord_png, intrinsics, poses)
