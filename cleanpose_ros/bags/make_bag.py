"""NOCS-format frames -> a rosbag2 with the node's input topics and the ground truth.

Every frame becomes, all stamped with the frame's stamp (start + i / rate): camera info (the
dataset's intrinsics), colour (rgb8), depth (16UC1 millimetres, as the dataset stores it),
instance mask (mono8, or mono16 for ids above 254; 0 = background), Detection2DArray (id = mask
value, class_id = category name, score), and the ground truth (ground_truth.py). The bag's log
time of each message is the frame stamp, so `ros2 bag play` reproduces the rate.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm

from ..core.types import Frame, Instance
from ..evaluation.runner import EvaluationSample
from . import messages as M
from .errors import BagError
from .ground_truth import BagGroundTruth
from .topics import BagTopics
from .typestore import build_typestore

logger = logging.getLogger(__name__)

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
BAG_VERSION = 9  # readable by Jazzy's and newer ros2 bag
DEFAULT_START_NS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC: a plausible wall-clock stamp
DEFAULT_FRAME_ID = "camera_color_optical_frame"


@dataclass(frozen=True)
class MakeBagSummary:
    path: Path
    frames: int
    duration_s: float
    depth_encoding: str
    storage: str


def instance_id_image(instances: Sequence[Instance], shape: tuple[int, int]) -> np.ndarray:
    """One image of instance ids (0 = background) from per-instance boolean masks.

    Refuses ids the node cannot read back (<= 0, > 65535) and overlapping masks (a pixel can
    hold one id only, so the replayed instances would differ from the source's)."""
    ids = np.zeros(shape, np.int64)
    for inst in instances:
        if not 0 < inst.instance_id <= 65535:
            raise BagError(f"instance id {inst.instance_id} cannot be stored in a mono16 mask (1..65535)")
        if np.any(ids[inst.mask] != 0):
            raise BagError(f"instance {inst.instance_id} overlaps another instance's mask; a bag mask holds one id per pixel")
        ids[inst.mask] = inst.instance_id
    return ids


def depth_message_array(frame: Frame) -> tuple[np.ndarray, str]:
    """Depth as 16UC1 millimetres when that gives the frame's metres back exactly (NOCS data is
    stored in mm), else as 32FC1 metres; either way the replayed depth equals the source's."""
    depth = frame.depth_m
    if np.all(np.isfinite(depth)):  # NaN holes have no 16UC1 form that reads back as NaN
        mm = np.rint(depth.astype(np.float64) * 1000.0)
        if mm.min(initial=0.0) >= 0 and mm.max(initial=0.0) <= 65535:
            mm16 = mm.astype(np.uint16)
            # interop/converters.image_to_depth_m divides by 1000 in float32: check that gives the same metres.
            if np.array_equal(mm16.astype(np.float32) / np.float32(1000.0), depth):
                return mm16, "16UC1"
    return depth.astype(np.float32), "32FC1"


class BagMaker:
    """Writes frames into a new bag; use as a context manager."""

    def __init__(self, out: str | os.PathLike, storage: str = "mcap", topics: BagTopics = BagTopics(),
                 distro: str = "kilted") -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r}; use one of {sorted(STORAGES)}")
        self.path = Path(out)
        if self.path.exists():
            raise BagError(f"{self.path} exists; rosbag2 writes a new folder (remove it or choose another --out)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.topics = topics
        self.store = build_typestore(distro)
        self.build = M.MessageBuilder(self.store)
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._connections: dict[str, object] = {}
        self.frames = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.depth_encodings: set[str] = set()

    def __enter__(self) -> "BagMaker":
        self._writer.open()
        t = self.topics
        for topic, msgtype in ((t.camera_info, M.CAMERA_INFO), (t.color, M.IMAGE), (t.depth, M.IMAGE), (t.mask, M.IMAGE),
                               (t.detections, M.DETECTION2D_ARRAY), (t.ground_truth, M.DETECTION3D_ARRAY),
                               (t.annotations, M.STRING)):
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.store)
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def _write(self, topic: str, msg: object, msgtype: str, stamp_ns: int) -> None:
        self._writer.write(self._connections[topic], stamp_ns, self.store.serialize_cdr(msg, msgtype))

    def add(self, frame: Frame, instances: Sequence[Instance], gt: BagGroundTruth | None, stamp_ns: int,
            frame_id: str = DEFAULT_FRAME_ID) -> None:
        """One frame: the five input topics and, when given, the two ground-truth topics."""
        b, t = self.build, self.topics
        ids = instance_id_image(instances, frame.shape)
        mask_encoding = "mono8" if ids.max(initial=0) <= 254 else "mono16"
        depth, depth_encoding = depth_message_array(frame)
        self.depth_encodings.add(depth_encoding)
        self._write(t.camera_info, b.camera_info(frame.intrinsics, stamp_ns, frame_id), M.CAMERA_INFO, stamp_ns)
        self._write(t.color, b.image(frame.rgb, "rgb8", stamp_ns, frame_id), M.IMAGE, stamp_ns)
        self._write(t.depth, b.image(depth, depth_encoding, stamp_ns, frame_id), M.IMAGE, stamp_ns)
        self._write(t.mask, b.image(ids, mask_encoding, stamp_ns, frame_id), M.IMAGE, stamp_ns)
        dets = [(i.instance_id, i.category, i.score, i.mask) for i in instances]
        self._write(t.detections, b.detection2d_array(dets, stamp_ns, frame_id), M.DETECTION2D_ARRAY, stamp_ns)
        if gt is not None:
            self._write(t.ground_truth, gt.detection3d_array(b, stamp_ns, frame_id), M.DETECTION3D_ARRAY, stamp_ns)
            self._write(t.annotations, b.string(gt.to_json(stamp_ns)), M.STRING, stamp_ns)
        self.frames += 1
        self.first_ns = stamp_ns if self.first_ns is None else self.first_ns
        self.last_ns = stamp_ns


def make_bag(samples: Iterable[EvaluationSample], out: str | os.PathLike, storage: str = "mcap",
             rate_hz: float = 30.0, start_ns: int = DEFAULT_START_NS, topics: BagTopics = BagTopics(),
             frame_id: str = DEFAULT_FRAME_ID, total: int | None = None, distro: str = "kilted") -> MakeBagSummary:
    """Write evaluation samples (e.g. runner.nocs_samples of a NocsReader) into a new bag at `out`.

    Frame i is stamped start_ns + round(i * 1e9 / rate_hz); its ground truth is named by the
    sample's frame_id so a replay's predictions file names frames like the offline evaluation.
    """
    if not rate_hz > 0:
        raise BagError(f"rate must be > 0 Hz, got {rate_hz}")
    with BagMaker(out, storage, topics, distro) as maker:
        for i, sample in enumerate(tqdm(samples, total=total, desc="make-bag", unit="frame")):
            stamp_ns = int(start_ns + round(i * 1e9 / rate_hz))
            gt = BagGroundTruth.from_ground_truth(sample.frame_id, sample.gt) if sample.gt is not None else None
            maker.add(sample.frame, sample.instances, gt, stamp_ns, frame_id)
    if maker.frames == 0:
        raise BagError("no frames to write")
    duration = (maker.last_ns - maker.first_ns) / 1e9 if maker.first_ns is not None else 0.0
    logger.info("%d frames (%.2f s at %.1f Hz) -> %s", maker.frames, duration, rate_hz, maker.path)
    return MakeBagSummary(path=maker.path, frames=maker.frames, duration_s=duration,
                          depth_encoding="/".join(sorted(maker.depth_encodings)), storage=storage)
