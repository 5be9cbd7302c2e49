"""Replay a bag through the node's pipeline: an output bag to look at, the evaluation tool's
predictions file, and the NOCS metrics when the bag carries ground truth.

Output folder: bag/ (rosbag2: every input message plus pose_estimation/detections,
pose_estimation/markers and /tf, as the node publishes them, stamped with the input frame),
predictions.jsonl, and with ground truth metrics.json, metrics.txt and the AP plots, written by
evaluation/runner.py exactly as cleanpose-evaluate writes them.

Unlike the live node, the replay processes every synchronised frame (no frame dropping, no
stale-frame check): it measures the pipeline, the live player (live.py) measures the node.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rosbags.rosbag2 import Writer
from tqdm import tqdm

from ..core.errors import EngineError, InputError
from ..core.types import CATEGORIES, Frame, FrameResult, Instance
from ..evaluation.predictions import PredictionsWriter
from ..evaluation.runner import (METRICS_JSON, PREDICTIONS_FILENAME, EvaluationSample, evaluate_predictions_file,
                                 frame_record_from_result)
from ..interop.output_spec import MarkerStyle
from . import messages as M
from .errors import BagError
from .make_bag import BAG_VERSION, STORAGES
from .reader import BagFrame, RawMessage, SyncSettings, check_bag, iterate_bag, open_bag
from .topics import BagTopics
from .typestore import build_typestore

logger = logging.getLogger(__name__)

OUTPUT_BAG = "bag"


@dataclass(frozen=True)
class OutputSettings:
    """The node's output parameters (ros/params.py OutputParams) that shape the messages."""

    frame_id: str = ""  # empty: the colour image's frame
    tf_prefix: str = "cleanpose_"
    publish_tf: bool = True
    publish_markers: bool = True
    marker_style: MarkerStyle = field(default_factory=MarkerStyle)


@dataclass(frozen=True)
class ReplaySummary:
    frames: int  # synchronised frames
    frames_refused: int  # frames whose inputs could not be converted
    poses: int
    rejected: dict[str, int]  # instance / frame refusals per reason
    processing_s: float
    bag_duration_s: float
    metrics: dict[str, Any] | None
    output_bag: Path
    predictions: Path

    @property
    def realtime_factor(self) -> float:
        """Bag duration / processing time: > 1 means faster than the recording."""
        return self.bag_duration_s / self.processing_s if self.processing_s > 0 else float("inf")


class _OutputBag:
    """The replay's output bag: copies of the input connections plus the node's outputs."""

    def __init__(self, path: Path, storage: str, store: Any, topics: BagTopics, settings: OutputSettings) -> None:
        self.store = store
        self.topics = topics
        self.settings = settings
        self.build = M.MessageBuilder(store)
        self.markers = M.MarkerArrayBuilder(self.build, settings.marker_style)
        self._writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._writer.open()
        self._copies: dict[int, Any] = {}
        self._outputs = {
            topics.poses: self._writer.add_connection(topics.poses, M.DETECTION3D_ARRAY, typestore=store),
            topics.markers: self._writer.add_connection(topics.markers, M.MARKER_ARRAY, typestore=store),
            topics.tf: self._writer.add_connection(topics.tf, M.TF_MESSAGE, typestore=store),
        }

    def copy(self, raw: RawMessage) -> None:
        conn = raw.connection
        if conn.topic in self._outputs:  # outputs of an earlier run are replaced by this run's
            return
        if conn.id not in self._copies:
            self._copies[conn.id] = self._writer.add_connection(
                conn.topic, conn.msgtype, msgdef=conn.msgdef.data, rihs01=conn.digest,
                serialization_format=conn.ext.serialization_format,
                offered_qos_profiles=conn.ext.offered_qos_profiles)
        self._writer.write(self._copies[conn.id], raw.log_ns, raw.data)

    def outputs(self, poses: Sequence[Any], stamp_ns: int, frame_id: str) -> None:
        s, t = self.settings, self.topics
        frame_id = s.frame_id or frame_id
        self._write(t.poses, self.build.detection3d_array(poses, stamp_ns, frame_id), M.DETECTION3D_ARRAY, stamp_ns)
        if s.publish_tf and poses:
            self._write(t.tf, self.build.tf_message(poses, stamp_ns, frame_id, s.tf_prefix), M.TF_MESSAGE, stamp_ns)
        if s.publish_markers:
            self._write(t.markers, self.markers.build(poses, stamp_ns, frame_id), M.MARKER_ARRAY, stamp_ns)

    def _write(self, topic: str, msg: Any, msgtype: str, stamp_ns: int) -> None:
        self._writer.write(self._outputs[topic], stamp_ns, self.store.serialize_cdr(msg, msgtype))

    def close(self) -> None:
        self._writer.close()


def _run_frame(pipeline: Callable[[Frame, Sequence[Instance]], FrameResult], bag_frame: BagFrame) -> FrameResult:
    """The node's worker step on a converted frame; refusals of the conversion are kept too."""
    if bag_frame.frame is None:
        assert bag_frame.error is not None
        ids = [i for i in bag_frame.detection_ids if i > 0] or [-1]
        return FrameResult(poses=(), rejected=tuple((i, bag_frame.error.reason) for i in ids))
    try:
        result = pipeline(bag_frame.frame, bag_frame.instances) if bag_frame.instances else FrameResult(poses=())
    except (InputError, EngineError) as e:  # as the node: the frame's objects count as missed, under the reason
        return FrameResult(poses=(), rejected=tuple((i.instance_id, e.reason) for i in bag_frame.instances))
    return FrameResult(poses=result.poses, rejected=(*bag_frame.refused, *result.rejected), timings_ms=result.timings_ms)


def replay_bag(bag: str | os.PathLike, pipeline: Callable[[Frame, Sequence[Instance]], FrameResult],
               out_dir: str | os.PathLike, topics: BagTopics = BagTopics(), sync: SyncSettings = SyncSettings(),
               output: OutputSettings = OutputSettings(), categories: Sequence[str] | None = None,
               storage: str = "mcap", meta: Mapping[str, Any] | None = None, plots: bool = True,
               overwrite: bool = False, distro: str = "kilted") -> ReplaySummary:
    """Replay `bag` through `pipeline` into `out_dir` (see the module docstring)."""
    if categories is None:
        config = getattr(pipeline, "config", None)
        categories = tuple(config.categories) if config is not None else CATEGORIES
    store = build_typestore(distro)
    out = Path(out_dir)
    out_bag = out / OUTPUT_BAG
    if out_bag.exists():
        if not overwrite:
            raise BagError(f"{out_bag} exists (an earlier replay?); remove it or pass --overwrite")
        shutil.rmtree(out_bag)
    out.mkdir(parents=True, exist_ok=True)
    reader = open_bag(bag)
    try:
        found = check_bag(reader, topics, store, sync.use_detections)
        bag_duration_s = reader.duration / 1e9
        total = found["color"].msgcount
        writer = _OutputBag(out_bag, storage, store, topics, output)
        rejected: Counter[str] = Counter()
        frames = refused_frames = poses = 0
        has_truth = False
        processing_s = 0.0
        pred_path = out / PREDICTIONS_FILENAME
        meta = {"bag": str(bag), "instances": "bag detections" if sync.use_detections else "bag category mask",
                **(meta or {})}
        try:
            with PredictionsWriter(pred_path, categories, meta, resume=False) as predictions, \
                    tqdm(total=total, desc="replay", unit="frame") as bar:
                for item in iterate_bag(reader, found, store, sync, categories):
                    if isinstance(item, RawMessage):
                        writer.copy(item)
                        continue
                    t0 = time.perf_counter()
                    result = _run_frame(pipeline, item)
                    frame_id = item.frame.frame_id if item.frame is not None else ""
                    writer.outputs(result.poses, item.stamp_ns, frame_id)
                    processing_s += time.perf_counter() - t0
                    sample = EvaluationSample(frame_id=item.name, frame=item.frame, instances=item.instances,  # type: ignore[arg-type]
                                              gt=item.gt)
                    predictions.write(frame_record_from_result(sample, result, categories))
                    frames += 1
                    refused_frames += item.frame is None
                    poses += len(result.poses)
                    has_truth |= item.gt is not None
                    rejected.update(reason for _, reason in result.rejected)
                    bar.update(1)
        finally:
            writer.close()
    finally:
        reader.close()
    if frames == 0:
        raise BagError(f"{bag}: no synchronised frame (colour, depth, mask{', detections' if sync.use_detections else ''} "
                       f"never share a stamp within {sync.slop_ms} ms)")
    metrics = evaluate_predictions_file(pred_path, out, plots=plots) if has_truth else None
    if metrics is None and (out / METRICS_JSON).exists():
        (out / METRICS_JSON).unlink()  # a stale file of an earlier run must not pass for this one's
    summary = ReplaySummary(frames=frames, frames_refused=refused_frames, poses=poses, rejected=dict(rejected),
                            processing_s=processing_s, bag_duration_s=bag_duration_s, metrics=metrics,
                            output_bag=out_bag, predictions=pred_path)
    logger.info("%d frames, %d poses in %.2f s; bag %.2f s: real-time factor %.2f", frames, poses, processing_s,
                bag_duration_s, summary.realtime_factor)
    return summary
