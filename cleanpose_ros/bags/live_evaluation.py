"""Metrics of a node run recorded while a bag played (live.py): the recorded pose messages joined
by stamp with the bag's frames and ground truth.

A frame the node did not answer (dropped by the latest-wins slot, stale, unsynchronised) counts
as a frame whose objects were all missed, with the refusal reason "no_output"; so the metrics
include the cost of frame dropping. Poses come back through the Detection3DArray (rotation as a
quaternion), so they equal the replay's to ~1e-9, not bit for bit.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.geometry import quaternion_to_rotation
from ..core.types import CATEGORIES, FrameResult, PoseEstimate
from ..evaluation.predictions import PredictionsWriter
from ..evaluation.runner import PREDICTIONS_FILENAME, EvaluationSample, evaluate_predictions_file, frame_record_from_result
from ..interop.converters import stamp_to_ns
from . import messages as M
from .reader import iter_messages, check_bag, frame_name, open_bag, read_ground_truth
from .topics import BagTopics
from .typestore import build_typestore

logger = logging.getLogger(__name__)

NO_OUTPUT = "no_output"


@dataclass(frozen=True)
class LiveResult:
    frames_in_bag: int
    frames_processed: int  # input frames the node published poses for
    diagnostics: dict[str, str]  # the node's last /diagnostics values (empty if not recorded)
    metrics: dict[str, Any] | None
    predictions: Path

    @property
    def frames_dropped(self) -> int:
        return self.frames_in_bag - self.frames_processed

    def describe(self) -> str:
        d = self.diagnostics
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(d.items())
                            if (k.startswith("dropped_") or k.startswith("rejected_")) and v != "0")
        line = (f"frames: {self.frames_in_bag} in the bag, {self.frames_processed} processed, {self.frames_dropped} "
                f"dropped" + (f" (node: {reasons})" if reasons else ""))
        if self.metrics is not None:
            summary = self.metrics["variants"][self.metrics["primary_iou_variant"]]["summary"]
            line += "; mean " + ", ".join(f"{k} {summary[k]['mean']:.1f}" for k in ("IoU50", "5deg5cm", "10deg5cm"))
        return line


def pose_from_detection3d(det: Any) -> PoseEstimate:
    """Inverse of bags/messages.py detection3d (and ros/outputs.py detection_array)."""
    c = det.bbox.center
    hyp = det.results[0].hypothesis
    return PoseEstimate(instance_id=int(det.id), category=hyp.class_id, score=float(hyp.score),
                        rotation=quaternion_to_rotation([c.orientation.x, c.orientation.y, c.orientation.z,
                                                         c.orientation.w]),
                        translation=np.array([c.position.x, c.position.y, c.position.z]),
                        size=np.array([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z]))


def _recorded(recording: Path, topics: BagTopics, store: Any) -> tuple[dict[int, tuple[PoseEstimate, ...]], dict[str, str]]:
    reader = open_bag(recording)
    poses: dict[int, tuple[PoseEstimate, ...]] = {}
    diagnostics: dict[str, str] = {}
    try:
        for conn, _, data in iter_messages(reader):
            if conn.topic == topics.poses:
                msg = store.deserialize_cdr(data, M.DETECTION3D_ARRAY)
                poses.setdefault(stamp_to_ns(msg.header.stamp), tuple(pose_from_detection3d(d) for d in msg.detections))
            elif conn.msgtype == "diagnostic_msgs/msg/DiagnosticArray":
                msg = store.deserialize_cdr(data, conn.msgtype)
                for status in msg.status:
                    if "cleanpose_node" in status.name:
                        diagnostics = {kv.key: kv.value for kv in status.values}
    finally:
        reader.close()
    return poses, diagnostics


def evaluate_recording(bag: str | Path, recording: str | Path, out_dir: str | os.PathLike,
                       topics: BagTopics = BagTopics(), categories: Sequence[str] = CATEGORIES,
                       plots: bool = False) -> LiveResult:
    """Predictions file (+ metrics when the bag has ground truth) of a recorded node run."""
    store = build_typestore()
    poses, diagnostics = _recorded(Path(recording), topics, store)
    reader = open_bag(bag)
    try:
        found = check_bag(reader, topics, store)
        truth = read_ground_truth(reader, found, store, categories)
        stamps = [stamp_to_ns(store.deserialize_cdr(data, M.IMAGE).header.stamp)
                  for _, _, data in iter_messages(reader, [found["color"]])]
    finally:
        reader.close()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pred_path = out / PREDICTIONS_FILENAME
    processed = 0
    with PredictionsWriter(pred_path, categories, {"bag": str(bag), "recording": str(recording)}, resume=False) as w:
        for stamp in stamps:
            gt = truth.get(stamp)
            if stamp in poses:
                processed += 1
                result = FrameResult(poses=poses[stamp])
            else:
                ids = gt.instance_ids.tolist() if gt is not None and len(gt) else [-1]
                result = FrameResult(poses=(), rejected=tuple((int(i), NO_OUTPUT) for i in ids))
            name = gt.frame_name if gt is not None else frame_name(stamp)
            w.write(frame_record_from_result(EvaluationSample(name, None, [], gt), result, categories))  # type: ignore[arg-type]
    metrics = evaluate_predictions_file(pred_path, out, plots=plots) if truth else None
    return LiveResult(frames_in_bag=len(stamps), frames_processed=processed, diagnostics=diagnostics,
                      metrics=metrics, predictions=pred_path)
