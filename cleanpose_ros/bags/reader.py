"""Reading a bag for replay: open it, check that the node's inputs are there, and turn its
messages into synchronised frames the way the node does (interop/sync.py ApproximateTimeSync,
interop/converters.py), without ROS.

Every problem with the bag as a whole (missing or truncated file, missing topics, unknown or
wrong message types, no camera info) is a BagError naming what is missing. A problem with one
frame (bad encoding, empty depth, ...) is an InputError for that frame, as in the node.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from rosbags.rosbag2 import Reader
from rosbags.typesys.store import Typestore

from ..core.errors import InputError
from ..core.types import CATEGORIES, CameraIntrinsics, Frame, Instance
from ..interop import converters
from ..interop.sync import ApproximateTimeSync
from . import messages as M
from .errors import BagError
from .ground_truth import BagGroundTruth
from .topics import BagTopics

logger = logging.getLogger(__name__)

SYNCED_STREAMS = ("color", "depth", "mask", "detections")
EXPECTED_TYPES = {"color": M.IMAGE, "depth": M.IMAGE, "mask": M.IMAGE, "camera_info": M.CAMERA_INFO,
                  "detections": M.DETECTION2D_ARRAY, "ground_truth": M.DETECTION3D_ARRAY, "annotations": M.STRING}


@dataclass(frozen=True)
class SyncSettings:
    """The node's synchroniser settings (ros/params.py SyncParams) and detection mode."""

    slop_ms: float = 20.0
    queue_size: int = 10
    use_detections: bool = True


@dataclass(frozen=True, eq=False)
class RawMessage:
    """A message of the bag as stored (copied into the replay's output bag)."""

    connection: Any
    log_ns: int
    data: bytes


@dataclass(frozen=True, eq=False)
class BagFrame:
    """One synchronised frame. `frame` is None when the inputs were refused (`error`)."""

    stamp_ns: int
    name: str
    frame: Frame | None
    instances: list[Instance] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    gt: BagGroundTruth | None = None
    error: InputError | None = None
    detection_ids: tuple[int, ...] = ()


def open_bag(path: str | Path) -> Reader:
    """An open rosbags Reader; BagError for a missing, foreign or truncated bag."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"no bag at {path}")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as e:  # rosbags raises several types for unreadable files; all mean the same here
        raise BagError(f"{path} is not a readable rosbag2 (truncated or corrupt?): {e}") from None
    return reader


def check_bag(reader: Reader, topics: BagTopics, store: Typestore, use_detections: bool = True
              ) -> dict[str, Any]:
    """{stream: connection} of the streams the replay uses; BagError names what is missing."""
    by_topic: dict[str, list[Any]] = {}
    for conn in reader.connections:
        by_topic.setdefault(conn.topic, []).append(conn)
    required = ["color", "depth", "camera_info", "mask"] + (["detections"] if use_detections else [])
    missing = [f"{s} ({getattr(topics, s)})" for s in required if getattr(topics, s) not in by_topic]
    if missing:
        raise BagError(f"{reader.path}: missing topic(s) {', '.join(missing)}; the bag has "
                       f"{sorted(by_topic) or 'no topics'} (rename with --topics stream=/topic)")
    found: dict[str, Any] = {}
    for stream in [*required, "ground_truth", "annotations"]:
        conns = by_topic.get(getattr(topics, stream), [])
        if not conns:
            continue
        conn = conns[0]
        if conn.msgtype not in store.types:
            raise BagError(f"{reader.path}: unknown message type {conn.msgtype} on {conn.topic} ({stream}); "
                           f"expected {EXPECTED_TYPES[stream]}")
        if conn.msgtype != EXPECTED_TYPES[stream]:
            raise BagError(f"{reader.path}: topic {conn.topic} ({stream}) has type {conn.msgtype}, "
                           f"expected {EXPECTED_TYPES[stream]}")
        found[stream] = conn
    if sum(c.msgcount for c in by_topic[topics.camera_info]) == 0:
        raise BagError(f"{reader.path}: no camera info: topic {topics.camera_info} has no messages")
    for stream in required:
        if sum(c.msgcount for c in by_topic[getattr(topics, stream)]) == 0:
            raise BagError(f"{reader.path}: topic {getattr(topics, stream)} ({stream}) has no messages")
    return found


def iter_messages(reader: Reader, connections: Sequence[Any] = ()) -> Iterator[tuple[Any, int, bytes]]:
    """reader.messages with storage errors (a truncated file) turned into a BagError."""
    iterator = reader.messages(connections=connections)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as e:  # a cut chunk / page surfaces as various decoder errors
            raise BagError(f"{reader.path}: cannot read past this point (truncated or corrupt file?): {e!r}") from None
        yield item


def read_ground_truth(reader: Reader, found: dict[str, Any], store: Typestore,
                      categories: Sequence[str] = CATEGORIES) -> dict[int, BagGroundTruth]:
    """{stamp_ns: truth}: the JSON annotations (exact) where present, else the Detection3DArray."""
    truth: dict[int, BagGroundTruth] = {}
    if "annotations" in found:
        for _, _, data in iter_messages(reader, [found["annotations"]]):
            gt, stamp_ns = BagGroundTruth.from_json(store.deserialize_cdr(data, M.STRING).data)
            truth[stamp_ns] = gt
    elif "ground_truth" in found:
        for _, _, data in iter_messages(reader, [found["ground_truth"]]):
            msg = store.deserialize_cdr(data, M.DETECTION3D_ARRAY)
            stamp_ns = converters.stamp_to_ns(msg.header.stamp)
            truth[stamp_ns] = BagGroundTruth.from_detection3d_array(msg, frame_name(stamp_ns), categories)
    return truth


def frame_name(stamp_ns: int) -> str:
    """Name of a frame without annotation: its stamp."""
    return f"stamp_{stamp_ns}"


class FrameAssembler:
    """Messages in bag order -> synchronised BagFrames, with the node's conversion rules."""

    def __init__(self, store: Typestore, found: dict[str, Any], settings: SyncSettings,
                 truth: dict[int, BagGroundTruth], categories: Sequence[str] = CATEGORIES) -> None:
        self.store = store
        self.settings = settings
        self.truth = truth
        self.categories = tuple(categories)
        self._stream_of = {conn.id: stream for stream, conn in found.items()}
        streams = [s for s in SYNCED_STREAMS if s != "detections" or settings.use_detections]
        self._ready: list[BagFrame] = []
        self._sync = ApproximateTimeSync(streams, int(settings.slop_ms * 1e6), settings.queue_size, self._on_synced)
        self._infos: deque[Any] = deque(maxlen=16)
        self.bad_messages = 0

    @property
    def unmatched(self) -> int:
        return self._sync.unmatched

    def add(self, connection: Any, data: bytes) -> list[BagFrame]:
        """Feed one message; returns the frames it completed (zero or one)."""
        stream = self._stream_of.get(connection.id)
        if stream is None or stream in ("ground_truth", "annotations"):
            return []
        try:
            msg = self.store.deserialize_cdr(data, connection.msgtype)
        except Exception as e:  # one corrupt message: the node would never see it either
            self.bad_messages += 1
            logger.warning("undecodable %s message on %s: %r", connection.msgtype, connection.topic, e)
            return []
        if stream == "camera_info":
            self._infos.append(msg)
            return []
        self._sync.add(stream, converters.stamp_to_ns(msg.header.stamp), msg)
        ready, self._ready = self._ready, []
        return ready

    def _camera_info_for(self, stamp_ns: int) -> Any | None:
        """As the node: the info stamped within slop of the frame, else the newest."""
        if not self._infos:
            return None
        slop_ns = int(self.settings.slop_ms * 1e6)
        closest = min(self._infos, key=lambda m: abs(converters.stamp_to_ns(m.header.stamp) - stamp_ns))
        return closest if abs(converters.stamp_to_ns(closest.header.stamp) - stamp_ns) <= slop_ns else self._infos[-1]

    def _on_synced(self, msgs: dict[str, Any], stamp_ns: int) -> None:
        gt = self.truth.get(stamp_ns)
        name = gt.frame_name if gt is not None else frame_name(stamp_ns)
        det_ids = tuple(_int_or_minus_one(d.id) for d in msgs["detections"].detections) if "detections" in msgs else ()
        try:
            info = self._camera_info_for(stamp_ns)
            if info is None:
                raise InputError("missing_camera_info", f"no camera info before frame {stamp_ns}")
            intrinsics: CameraIntrinsics = converters.camera_info_to_intrinsics(info)
            frame = converters.frame_from_messages(msgs["color"], msgs["depth"], intrinsics)
            mask = converters.image_to_mask(msgs["mask"])
            if "detections" in msgs:
                instances, refused = converters.instances_from_detections(mask, msgs["detections"], frame.shape,
                                                                          self.categories)
            else:
                instances, refused = converters.instances_from_category_mask(mask, frame.shape, self.categories)
        except InputError as e:
            self._ready.append(BagFrame(stamp_ns, name, None, gt=gt, error=e, detection_ids=det_ids))
            return
        self._ready.append(BagFrame(stamp_ns, name, frame, instances, refused, gt, detection_ids=det_ids))


def _int_or_minus_one(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


def iterate_bag(reader: Reader, found: dict[str, Any], store: Typestore, settings: SyncSettings,
                categories: Sequence[str] = CATEGORIES) -> Iterator[RawMessage | BagFrame]:
    """Every stored message (in log-time order) and, right after the message that completes it,
    each synchronised frame."""
    assembler = FrameAssembler(store, found, settings, read_ground_truth(reader, found, store, categories), categories)
    for conn, log_ns, data in iter_messages(reader):
        yield RawMessage(conn, log_ns, data)
        yield from assembler.add(conn, data)
    if assembler.unmatched:
        logger.info("%d input messages found no partner within %.0f ms", assembler.unmatched, settings.slop_ms)
