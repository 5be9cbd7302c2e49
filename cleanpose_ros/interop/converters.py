"""ROS messages <-> numpy arrays and core types, without cv_bridge.

Every function here is pure (no node, no publishers) so it can be tested without a ROS graph.
Problems with an input message raise `InputError` with the reason code that the node counts.

The readers only use message attributes, so they accept rclpy messages and the rosbags
message objects of a bag alike (the replay tool runs without ROS); the message classes are
imported where a function constructs one.

Image layout (sensor_msgs/Image): `height` rows of `step` bytes each; a row holds
`width * channels * itemsize` meaningful bytes followed by optional padding; multi-byte
values are big-endian when `is_bigendian` is set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import CATEGORIES, CameraIntrinsics, Frame, Instance, parse_ascii_int

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray


@dataclass(frozen=True)
class PixelFormat:
    """How one sensor_msgs/Image encoding lays out a pixel."""

    dtype: np.dtype
    channels: int


#: Encodings this package reads and writes (the names of sensor_msgs/image_encodings.h).
PIXEL_FORMATS: dict[str, PixelFormat] = {
    "rgb8": PixelFormat(np.dtype(np.uint8), 3),
    "bgr8": PixelFormat(np.dtype(np.uint8), 3),
    "rgba8": PixelFormat(np.dtype(np.uint8), 4),
    "bgra8": PixelFormat(np.dtype(np.uint8), 4),
    "mono8": PixelFormat(np.dtype(np.uint8), 1),
    "mono16": PixelFormat(np.dtype(np.uint16), 1),
    "16UC1": PixelFormat(np.dtype(np.uint16), 1),
    "32FC1": PixelFormat(np.dtype(np.float32), 1),
    "32SC1": PixelFormat(np.dtype(np.int32), 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
MASK_ENCODINGS = ("mono8", "mono16", "16UC1", "32SC1")


def _pixel_format(encoding: str) -> PixelFormat:
    try:
        return PIXEL_FORMATS[encoding]
    except KeyError:
        raise InputError("unknown_encoding", f"image encoding {encoding!r} is not one of {sorted(PIXEL_FORMATS)}") from None


# --------------------------------------------------------------------------- stamps

def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    from builtin_interfaces.msg import Time

    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


# --------------------------------------------------------------------------- images

def image_to_array(msg: Image) -> np.ndarray:
    """Image -> (H, W) or (H, W, C) array in the encoding's dtype, native byte order, a copy."""
    fmt = _pixel_format(msg.encoding)
    h, w = int(msg.height), int(msg.width)
    row_bytes = w * fmt.channels * fmt.dtype.itemsize
    if h == 0 or w == 0:
        raise InputError("bad_message", f"empty image {w}x{h}")
    if msg.step < row_bytes:
        raise InputError("bad_message", f"step {msg.step} < {row_bytes} bytes needed for {w} px of {msg.encoding}")
    data = np.frombuffer(msg.data, dtype=np.uint8)
    # The last row needs only its meaningful bytes, not the padding after them.
    needed = (h - 1) * msg.step + row_bytes
    if data.size < needed:
        raise InputError("bad_message", f"image data has {data.size} bytes, {needed} needed for {w}x{h} {msg.encoding}")
    rows = np.lib.stride_tricks.as_strided(data, shape=(h, row_bytes), strides=(msg.step, 1))
    wire_dtype = fmt.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    arr = np.ascontiguousarray(rows).view(wire_dtype).astype(fmt.dtype, copy=False)
    return arr.reshape(h, w, fmt.channels) if fmt.channels > 1 else arr.reshape(h, w)


def array_to_image(array: np.ndarray, encoding: str, *, stamp_ns: int = 0, frame_id: str = "",
                   big_endian: bool = False, row_padding: int = 0) -> Image:
    """(H, W[, C]) array -> Image; `row_padding` extra bytes per row (tests and odd drivers)."""
    from sensor_msgs.msg import Image

    fmt = _pixel_format(encoding)
    arr = np.asarray(array)
    expected_ndim = 2 if fmt.channels == 1 else 3
    if arr.ndim != expected_ndim or (fmt.channels > 1 and arr.shape[2] != fmt.channels):
        raise ValueError(f"{encoding} needs shape (H, W{'' if fmt.channels == 1 else f', {fmt.channels}'}), got {arr.shape}")
    h, w = arr.shape[:2]
    wire = arr.astype(fmt.dtype.newbyteorder(">" if big_endian else "<"), copy=False)
    rows = np.ascontiguousarray(wire).view(np.uint8).reshape(h, -1)
    if row_padding:
        rows = np.concatenate([rows, np.zeros((h, row_padding), np.uint8)], axis=1)
    msg = Image()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = h, w
    msg.encoding = encoding
    msg.is_bigendian = int(big_endian)
    msg.step = int(rows.shape[1])
    msg.data = rows.tobytes()
    return msg


def image_to_rgb(msg: Image) -> np.ndarray:
    """Colour image -> (H, W, 3) uint8 RGB."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise InputError("unknown_encoding", f"colour image encoding {msg.encoding!r} is not one of {list(COLOR_ENCODINGS)}")
    arr = image_to_array(msg)
    if msg.encoding == "mono8":
        return np.repeat(arr[:, :, None], 3, axis=2)
    if msg.encoding.startswith("bgr"):
        arr = arr[:, :, 2::-1]
    return np.ascontiguousarray(arr[:, :, :3])


def image_to_depth_m(msg: Image) -> np.ndarray:
    """Depth image -> (H, W) float32 metres; integer encodings are millimetres (REP 118)."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise InputError("unknown_encoding", f"depth encoding {msg.encoding!r} is not one of {list(DEPTH_ENCODINGS)}")
    arr = image_to_array(msg)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(1000.0)
    return arr.astype(np.float32, copy=False)


def image_to_mask(msg: Image) -> np.ndarray:
    """Instance/category mask -> (H, W) integer ids in the encoding's dtype (uint8, uint16 or int32),
    0 = background. Not widened: comparisons per id are a quarter of the bytes of int64."""
    if msg.encoding not in MASK_ENCODINGS:
        raise InputError("unknown_encoding", f"mask encoding {msg.encoding!r} is not one of {list(MASK_ENCODINGS)}")
    return image_to_array(msg)


def _id_mask(mask_ids: np.ndarray, value: int) -> np.ndarray:
    """mask_ids == value, all False for a value the mask's dtype cannot hold."""
    if np.issubdtype(mask_ids.dtype, np.integer):
        info = np.iinfo(mask_ids.dtype)
        if not info.min <= value <= info.max:
            return np.zeros(mask_ids.shape, bool)
    return mask_ids == value


def _ids_besides(mask_ids: np.ndarray, named: dict[int, int]) -> list[int]:
    """Sorted non-zero ids of the mask other than `named` ({id: its pixel count}). The counts settle
    the usual case without a pass over the ids (np.unique of a 640x480 frame: 1.5-5 ms); only a
    mask holding other ids is searched for them."""
    if sum(named.values()) == np.count_nonzero(mask_ids):
        return []
    others = mask_ids[(mask_ids != 0) & ~np.isin(mask_ids, list(named))]
    return [int(v) for v in np.unique(others)]


# --------------------------------------------------------------------------- camera info

def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """CameraInfo -> intrinsics; an all-zero K (uncalibrated driver) is 'missing_camera_info'.

    The images are assumed rectified (or distortion negligible): the network was trained on
    pinhole back-projection, so K (not P) is used, as the depth-to-colour aligners publish it.
    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise InputError("missing_camera_info", f"camera info has no valid K (fx={k[0, 0]}, fy={k[1, 1]})")
    return CameraIntrinsics.from_matrix(k, int(msg.width), int(msg.height))


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics, *, stamp_ns: int = 0, frame_id: str = "") -> CameraInfo:
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.width, msg.height = intrinsics.width, intrinsics.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = intrinsics.matrix.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    p = np.zeros((3, 4))
    p[:, :3] = intrinsics.matrix
    msg.p = p.reshape(-1).tolist()
    return msg


# --------------------------------------------------------------------------- frames and instances

def frame_from_messages(color: Image, depth: Image, intrinsics: CameraIntrinsics) -> Frame:
    """Colour + aligned depth + intrinsics -> Frame stamped with the colour image's header.

    A depth image without a single valid pixel is refused here ('invalid_depth') so that a
    dead depth stream shows up as one clear counter instead of one rejection per instance.
    """
    rgb = image_to_rgb(color)
    depth_m = image_to_depth_m(depth)
    if not np.any(np.isfinite(depth_m) & (depth_m > 0)):
        raise InputError("invalid_depth", "depth image has no valid (finite, > 0) pixel")
    return Frame(rgb=rgb, depth_m=depth_m, intrinsics=intrinsics,
                 stamp_ns=stamp_to_ns(color.header.stamp), frame_id=color.header.frame_id)


def _check_mask_shape(mask: np.ndarray, frame_shape: tuple[int, int]) -> None:
    if mask.shape != tuple(frame_shape):
        raise InputError("size_mismatch", f"mask {mask.shape[1]}x{mask.shape[0]} vs image {frame_shape[1]}x{frame_shape[0]}")


def category_from_class_id(class_id: str, categories: Sequence[str] = CATEGORIES) -> str:
    """A hypothesis class_id names a category, or gives its NOCS class id (1-based) as ASCII digits."""
    name = class_id.strip()
    if parse_ascii_int(name) is not None:
        index = int(name) - 1
        if 0 <= index < len(categories):
            return categories[index]
        raise InputError("unknown_category", f"class id {name} is outside 1..{len(categories)}")
    if name not in categories:
        raise InputError("unknown_category", f"category {name!r} is not one of {list(categories)}")
    return name


def instances_from_detections(mask_ids: np.ndarray, detections: Detection2DArray, frame_shape: tuple[int, int],
                              categories: Sequence[str] = CATEGORIES
                              ) -> tuple[list[Instance], list[tuple[int, str]]]:
    """Instance-id mask + Detection2DArray -> instances and per-detection refusals.

    Each detection's `id` is the instance's value in the mask; its best hypothesis (highest
    score) names the category. Refusals are (instance_id or -1, reason): an id that is not ASCII
    digits or repeats is 'bad_message', a hypothesis score that is NaN or outside [0, 1] is
    'invalid_score' (the score ranks and gates objects: a made-up one must not pass), an id absent
    from the mask is 'empty_mask', and a mask id no detection names is 'mask_without_detection'.
    """
    _check_mask_shape(mask_ids, frame_shape)
    instances: list[Instance] = []
    rejected: list[tuple[int, str]] = []
    seen: dict[int, int] = {}  # id named by a detection -> its pixel count in the mask
    for det in detections.detections:
        instance_id = parse_ascii_int(det.id)
        if instance_id is None:
            rejected.append((-1, "bad_message"))
            continue
        if instance_id <= 0 or instance_id in seen or not det.results:
            rejected.append((instance_id, "bad_message"))
            continue
        id_mask = _id_mask(mask_ids, instance_id)
        seen[instance_id] = int(np.count_nonzero(id_mask))
        scores = [float(r.hypothesis.score) for r in det.results]
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in scores):
            rejected.append((instance_id, "invalid_score"))
            continue
        best = det.results[int(np.argmax(scores))]  # first of equal scores
        try:
            category = category_from_class_id(best.hypothesis.class_id, categories)
        except InputError as e:
            rejected.append((instance_id, e.reason))
            continue
        if seen[instance_id] == 0:
            rejected.append((instance_id, "empty_mask"))
            continue
        instances.append(Instance(instance_id=instance_id, category=category, mask=id_mask,
                                  score=float(best.hypothesis.score)))
    rejected.extend((v, "mask_without_detection") for v in _ids_besides(mask_ids, seen))
    return instances, rejected


def instances_from_category_mask(mask_ids: np.ndarray, frame_shape: tuple[int, int],
                                 categories: Sequence[str] = CATEGORIES
                                 ) -> tuple[list[Instance], list[tuple[int, str]]]:
    """Mode without detections: each mask value is a NOCS class id (index + 1), one object per class.

    The instance id is the class id, so TF and marker names stay stable across frames.
    """
    _check_mask_shape(mask_ids, frame_shape)
    instances: list[Instance] = []
    counts: dict[int, int] = {}
    for value, category in enumerate(categories, start=1):
        id_mask = _id_mask(mask_ids, value)
        counts[value] = int(np.count_nonzero(id_mask))
        if counts[value]:
            instances.append(Instance(instance_id=value, category=category, mask=id_mask))
    rejected: list[tuple[int, str]] = [(v, "unknown_category") for v in _ids_besides(mask_ids, counts)]
    if not instances and not rejected:
        rejected.append((-1, "empty_mask"))
    return instances, rejected
