"""Training-time augmentation, kept apart from the shared preprocessing (core/preprocess.py).

Works on the preprocessed tensors of one object: the ImageNet-normalised crop (3, S, S) and the
camera-frame points (N, 3). Normalisation is affine, so the colour operations undo it, act on
[0, 1] RGB and redo it. Reference recipe (model.md): colour jitter (0.4, 0.4, 0.4, 0.3) plus
blur / pixel noise on the crop, point noise N(0, 1 mm) clipped to 5 mm. The in-network
rotation / translation / scale augmentation belongs to the model, not here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.preprocess import IMAGENET_MEAN, IMAGENET_STD

_MEAN = IMAGENET_MEAN[:, None, None]
_STD = IMAGENET_STD[:, None, None]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class InputAugmentConfig:
    """Per-sample augmentation of the network inputs in the data loader (colour, blur, pixel and point
    noise); the network's own batch augmentation (rotation, shift, scale) is model/config.BatchAugmentConfig."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.3  # fraction of a half turn (torchvision semantics: max 0.5)
    blur_prob: float = 0.2
    pixel_noise_prob: float = 0.5  # the generator writes noise-free colour (see data/scene.py)
    pixel_noise_std: float = 0.03  # in [0, 1] RGB units
    point_noise_std_m: float = 0.001
    point_noise_clip_m: float = 0.005


def _hue_rotate(rgb: np.ndarray, angle: float) -> np.ndarray:
    """Rotate hue by `angle` radians in YIQ space (luma kept)."""
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float32)
    m = np.linalg.inv(to_yiq) @ rot @ to_yiq
    return np.einsum("ij,jhw->ihw", m.astype(np.float32), rgb)


def _box_blur3(img: np.ndarray) -> np.ndarray:
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    acc = np.zeros_like(img)
    for dy in range(3):
        for dx in range(3):
            acc += pad[:, dy:dy + img.shape[1], dx:dx + img.shape[2]]
    return acc / 9.0


def augment_rgb(rgb_norm: np.ndarray, rng: np.random.Generator, cfg: InputAugmentConfig = InputAugmentConfig()) -> np.ndarray:
    """Colour jitter (random order of the four ops), optional blur and pixel noise; returns normalised."""
    img = rgb_norm * _STD + _MEAN  # back to [0, 1]
    ops = rng.permutation(4)
    for op in ops:
        if op == 0 and cfg.brightness > 0:
            img = img * rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
        elif op == 1 and cfg.contrast > 0:
            mean = float((np.einsum("c,chw->hw", _LUMA, img)).mean())
            img = (img - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
        elif op == 2 and cfg.saturation > 0:
            grey = np.einsum("c,chw->hw", _LUMA, img)[None]
            img = (img - grey) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + grey
        elif op == 3 and cfg.hue > 0:
            img = _hue_rotate(img, rng.uniform(-cfg.hue, cfg.hue) * np.pi)
        img = np.clip(img, 0.0, 1.0)
    if rng.random() < cfg.blur_prob:
        img = _box_blur3(img)
    if rng.random() < cfg.pixel_noise_prob:
        img = np.clip(img + rng.normal(0.0, cfg.pixel_noise_std, img.shape), 0.0, 1.0)
    return ((img - _MEAN) / _STD).astype(np.float32)


def augment_points(points: np.ndarray, rng: np.random.Generator, cfg: InputAugmentConfig = InputAugmentConfig()) -> np.ndarray:
    noise = np.clip(rng.normal(0.0, cfg.point_noise_std_m, points.shape), -cfg.point_noise_clip_m, cfg.point_noise_clip_m)
    return (points + noise).astype(np.float32)
