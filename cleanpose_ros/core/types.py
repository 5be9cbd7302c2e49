"""Frozen dataclasses at every boundary of the pipeline.

Conventions (used everywhere in this package):
- camera frame: OpenCV optical frame (x right, y down, z forward), metres;
- object canonical frame: NOCS (y up, front = +x, box centred at the origin, diagonal 1);
- a pose maps canonical points to the camera: p_cam = scale * R @ p_nocs + t, scale = ||size||;
- image arrays are row-major (H, W[, C]); rgb is uint8 RGB order; depth is float32 metres
  with 0 (or NaN) meaning "no measurement".
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import InputError

#: NOCS categories in class-id order (NOCS class id = index + 1).
CATEGORIES: tuple[str, ...] = ("bottle", "bowl", "camera", "can", "laptop", "mug")
#: Categories whose shape is (treated as) rotationally symmetric about the canonical y axis.
SYMMETRIC_CATEGORIES: frozenset[str] = frozenset({"bottle", "bowl", "can"})
#: the categories whose rotation about the up axis (yaw) can be seen: the non-symmetric ones
YAW_OBSERVABLE_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c not in SYMMETRIC_CATEGORIES)


#: ASCII digits only: str.isdigit() and int() also take other scripts' digits and superscripts ('²' passes
#: isdigit() and then fails int()), and int() takes '+3', ' 3' and '1_0'. Ids in messages must be plain.
_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_ascii_int(text: str) -> int | None:
    """`text` as a non-negative integer when it is ASCII digits and nothing else, else None."""
    return int(text) if _ASCII_DIGITS.fullmatch(text) else None


def category_index(name: str, categories: Sequence[str] = CATEGORIES) -> int:
    """0-based index of a category name; raises InputError('unknown_category')."""
    try:
        return list(categories).index(name)
    except ValueError:
        raise InputError("unknown_category", f"category {name!r} is not one of {list(categories)}") from None


#: Widest field of view accepted for pinhole intrinsics (fisheye lenses need undistortion first).
MAX_FIELD_OF_VIEW_DEG = 170.0


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of the (colour-aligned) depth image, pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(np.isfinite(v) for v in vals) or self.fx <= 0 or self.fy <= 0:
            raise InputError("missing_camera_info", f"invalid intrinsics fx={self.fx} fy={self.fy} cx={self.cx} cy={self.cy}")
        if self.width <= 0 or self.height <= 0:
            raise InputError("missing_camera_info", f"invalid image size {self.width}x{self.height}")
        # A principal point off the image or a focal length near zero back-projects the depth to points
        # metres away: poses kilometres off with boxes of hundreds of metres. No real camera is like that.
        fov_x = 2.0 * math.degrees(math.atan(0.5 * self.width / self.fx))
        fov_y = 2.0 * math.degrees(math.atan(0.5 * self.height / self.fy))
        if not (0.0 <= self.cx <= self.width and 0.0 <= self.cy <= self.height):
            raise InputError("implausible_camera_info", f"principal point ({self.cx}, {self.cy}) lies outside the "
                             f"{self.width}x{self.height} image")
        if max(fov_x, fov_y) > MAX_FIELD_OF_VIEW_DEG:
            raise InputError("implausible_camera_info", f"fx={self.fx}, fy={self.fy} give a {max(fov_x, fov_y):.0f} deg "
                             f"field of view at {self.width}x{self.height} (> {MAX_FIELD_OF_VIEW_DEG:.0f}): "
                             "the focal length is not in pixels of this image")

    @property
    def matrix(self) -> np.ndarray:
        """3x3 K matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> "CameraIntrinsics":
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), int(width), int(height))


#: REAL275 / CAMERA25 intrinsics at 640x480 (nocs-format: camera section).
REAL275_INTRINSICS = CameraIntrinsics(591.0125, 590.16775, 322.525, 244.11084, 640, 480)
CAMERA25_INTRINSICS = CameraIntrinsics(577.5, 577.5, 319.5, 239.5, 640, 480)


@dataclass(frozen=True, eq=False)
class Frame:
    """One synchronised RGB-D frame. Validates that rgb, depth and intrinsics agree."""

    rgb: np.ndarray  # (H, W, 3) uint8, RGB order
    depth_m: np.ndarray  # (H, W) float32 metres, 0 or NaN = missing
    intrinsics: CameraIntrinsics
    stamp_ns: int = 0
    frame_id: str = "camera_color_optical_frame"

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise InputError("bad_message", f"rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        if self.depth_m.ndim != 2:
            raise InputError("bad_message", f"depth must be (H, W), got {self.depth_m.shape}")
        if self.rgb.shape[:2] != self.depth_m.shape:
            raise InputError("size_mismatch", f"rgb {self.rgb.shape[:2]} vs depth {self.depth_m.shape}")
        h, w = self.depth_m.shape
        if (self.intrinsics.height, self.intrinsics.width) != (h, w):
            raise InputError(
                "size_mismatch",
                f"camera info {self.intrinsics.width}x{self.intrinsics.height} vs image {w}x{h}",
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth_m.shape  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Instance:
    """One segmented object instance of a frame."""

    instance_id: int
    category: str
    mask: np.ndarray  # (H, W) bool
    score: float = 1.0


@dataclass(frozen=True, eq=False)
class ObjectBatch:
    """Network input for all instances of a frame (B objects), made by core.preprocess.

    Named tensors (the engine schema, see core/engine.py):
      rgb      (B, 3, S, S) float32, ImageNet-normalised crop, RGB order
      points   (B, N, 3)    float32, camera frame, metres (NOT centred; the network centres)
      choose   (B, N)       int64, index of each point's pixel in the S x S crop grid
      category (B,)         int64, 0-based index into the configured category list
    """

    rgb: np.ndarray
    points: np.ndarray
    choose: np.ndarray
    category: np.ndarray
    instance_ids: tuple[int, ...]
    categories: tuple[str, ...]
    scores: tuple[float, ...]
    crop_boxes: np.ndarray  # (B, 4) int, [y1, x1, y2, x2) of the square crop window in the frame

    def __post_init__(self) -> None:
        b = self.rgb.shape[0]
        sizes = {self.points.shape[0], self.choose.shape[0], self.category.shape[0], len(self.instance_ids),
                 len(self.categories), len(self.scores), self.crop_boxes.shape[0]}
        if sizes != {b}:
            raise ValueError(f"ObjectBatch fields disagree on the batch size: {sizes}")

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def tensors(self) -> dict[str, np.ndarray]:
        """The named network inputs."""
        return {"rgb": self.rgb, "points": self.points, "choose": self.choose, "category": self.category}


@dataclass(frozen=True, eq=False)
class PoseEstimate:
    """A decoded 6D pose with metric size, in the camera frame."""

    instance_id: int
    category: str
    score: float
    rotation: np.ndarray  # (3, 3) orthonormal, det +1: canonical -> camera
    translation: np.ndarray  # (3,) metres, box centre in the camera frame
    size: np.ndarray  # (3,) metres, box extents along canonical x, y, z
    #: the system's probability that this pose is within 10 deg / 5 cm (core/confidence.py); None when
    #: no confidence model is loaded. With one, `score` = detection score x confidence (what is published).
    confidence: float | None = None
    detection_score: float | None = None  # the segmenter's score, kept when `score` includes the confidence
    #: agreement of the pose head with the keypoint fit (core/confidence.py FEATURE_NAMES); () without keypoints
    features: tuple[float, ...] = ()
    #: 6x6 covariance of (position, rotation about x, y, z) in the camera frame, m^2 / rad^2, from the
    #: confidence model's error model (core/confidence.py); None without one
    covariance: np.ndarray | None = None

    @property
    def scale(self) -> float:
        """Metres per NOCS unit (= metric box diagonal)."""
        return float(np.linalg.norm(self.size))

    @property
    def srt(self) -> np.ndarray:
        """4x4 matrix [[scale*R, t], [0, 1]] mapping NOCS points to the camera frame."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline returns for a frame: poses plus the instances it refused and why."""

    poses: tuple[PoseEstimate, ...]
    rejected: tuple[tuple[int, str], ...] = field(default_factory=tuple)  # (instance_id, reason)
    timings_ms: tuple[tuple[str, float], ...] = field(default_factory=tuple)
