"""Frame + instances -> FrameResult: the one inference path of the node and the offline tools.

Steps: filter instances (category known and enabled, score threshold, max objects), the shared
preprocessing (core/preprocess.py), ONE engine call for all remaining objects of the frame,
postprocessing (core/postprocess.py), and with a confidence model (core/confidence.py) each pose's
confidence and published score. Every refused instance is reported with a reason.

The engine is passed in (core/engine.py Engine, the torch-free contract every backend implements);
this module never imports torch or onnxruntime. engines/factory.py build_pipeline builds an engine
and a pipeline from a weights file.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

import numpy as np

from .confidence import ConfidenceModel
from .engine import KEYPOINT_OUTPUT_NAMES, Engine, ModelInfo, dummy_inputs, engine_output_names
from .config import PipelineConfig
from .errors import ConfigError
from .plausibility import implausibility
from .postprocess import decode_poses
from .preprocess import preprocess_instances
from .types import Frame, FrameResult, Instance, ObjectBatch, PoseEstimate


logger = logging.getLogger(__name__)

#: Rejection reasons produced by the pipeline's own filters (FrameResult.rejected).
REJECT_UNKNOWN_CATEGORY = "unknown_category"  # category not in config.categories
REJECT_CATEGORY_DISABLED = "category_disabled"  # known, but not in config.enabled_categories
REJECT_LOW_SCORE = "low_score"  # detection score below config.score_threshold
REJECT_MAX_OBJECTS = "max_objects"  # beyond config.max_objects (lowest scores dropped first)
REJECT_DUPLICATE_ID = "duplicate_instance_id"  # an earlier instance of the frame has the same id

#: Names of FrameResult.timings_ms entries, in order.
TIMING_STAGES = ("preprocess", "engine", "postprocess", "total")


def config_for_model(config: PipelineConfig, info: ModelInfo) -> PipelineConfig:
    """`config` with the preprocessing sizes (num_points, crop_size) the model was built for."""
    preprocess = dataclasses.replace(config.preprocess, num_points=info.num_points, crop_size=info.crop_size)
    return dataclasses.replace(config, preprocess=preprocess)


def check_config_matches_model(config: PipelineConfig, info: ModelInfo) -> None:
    """Refuse a pipeline config whose preprocessing or categories differ from the model's."""
    problems = []
    if config.preprocess.num_points != info.num_points:
        problems.append(f"preprocess.num_points is {config.preprocess.num_points}, the model needs {info.num_points}")
    if config.preprocess.crop_size != info.crop_size:
        problems.append(f"preprocess.crop_size is {config.preprocess.crop_size}, the model needs {info.crop_size}")
    if tuple(config.categories) != tuple(info.categories):
        problems.append(f"categories are {list(config.categories)}, the model was trained on {list(info.categories)}")
    if problems:
        raise ConfigError(
            f"pipeline config does not match model {info.name!r}: " + "; ".join(problems)
            + " (set these values, or leave the config out to take them from the weights)")


def with_confidence(pose: PoseEstimate, model: ConfidenceModel) -> PoseEstimate:
    """The pose with its confidence; its score = detection score x confidence. A pose whose
    confidence cannot be computed (no keypoint fit, a category the model was not calibrated on)
    gets confidence 0: unknown is not trusted."""
    confidence = model.predict(pose.category, pose.features) if pose.features else None
    confidence = 0.0 if confidence is None else confidence
    return dataclasses.replace(pose, confidence=confidence, detection_score=pose.score, score=pose.score * confidence,
                               covariance=model.covariance(pose.category, confidence, pose.rotation))


class Pipeline:
    """Callable: `pipeline(frame, instances) -> FrameResult`. Not thread-safe; one per worker."""

    def __init__(self, engine: Engine, config: PipelineConfig | None = None, seed: int = 0,
                 confidence: ConfidenceModel | None = None) -> None:
        """`config=None` takes the defaults with the model's preprocessing sizes.

        `seed` drives the point sampling of the preprocessing, so a frame always gives the same
        result. `confidence`: the calibrated model of these weights (core/confidence.py); with it
        every pose carries a confidence and its score becomes detection score x confidence. It
        needs the engine's keypoint outputs.
        """
        self._engine = engine
        self._config = config_for_model(PipelineConfig(), engine.info) if config is None else config
        check_config_matches_model(self._config, engine.info)
        if self._config.pose_source != "direct" or confidence is not None:
            # asked, not run: a start-up engine call here would repeat the warm-up's work
            if not set(KEYPOINT_OUTPUT_NAMES) <= set(engine_output_names(engine)):
                needs = (f"pose_source {self._config.pose_source!r}" if self._config.pose_source != "direct"
                         else "a confidence model")
                raise ConfigError(f"{needs} needs an engine with keypoint outputs; this one has none "
                                  "(re-export the ONNX file with cleanpose-export)")
        self._confidence = confidence
        self._seed = seed
        self._known = frozenset(self._config.categories)
        self._enabled = frozenset(self._config.enabled_categories)

    def _plausible(self, poses: list[PoseEstimate], batch: ObjectBatch, rejected: list[tuple[int, str]]
                   ) -> list[PoseEstimate]:
        """The poses that agree with their own observed points; the others go to `rejected`."""
        row = {instance_id: i for i, instance_id in enumerate(batch.instance_ids)}
        kept = []
        for pose in poses:
            reason = implausibility(pose, batch.points[row[pose.instance_id]], self._config.plausibility)
            if reason is None:
                kept.append(pose)
            else:
                rejected.append((pose.instance_id, reason))
        return kept

    def warm_up(self, num_objects: int = 1) -> float:
        """Run the engine once on well-formed dummy inputs; returns the milliseconds it took.

        The first call of an engine allocates its buffers and (onnxruntime, cuDNN) picks kernels,
        often 10x a normal call; doing it at start keeps that out of the first real frame.
        """
        inputs = dummy_inputs(self._engine.info, num_objects)
        start = time.perf_counter()
        self._engine.run(inputs)
        return 1e3 * (time.perf_counter() - start)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def config(self) -> PipelineConfig:
        return self._config

    @property
    def confidence_model(self) -> ConfidenceModel | None:
        return self._confidence


    def _select(self, instances: Sequence[Instance]) -> tuple[list[Instance], list[tuple[int, str]]]:
        """Apply the category, score and count filters; keeps the input order of survivors."""
        rejected: list[tuple[int, str]] = []
        candidates: list[Instance] = []
        seen: set[int] = set()
        for inst in instances:
            if inst.instance_id in seen:
                # Poses are keyed by instance id downstream (TF frame names, markers, matching):
                # a second pose under the same id would silently overwrite the first.
                rejected.append((inst.instance_id, REJECT_DUPLICATE_ID))
                continue
            seen.add(inst.instance_id)
            if inst.category not in self._known:
                rejected.append((inst.instance_id, REJECT_UNKNOWN_CATEGORY))
            elif inst.category not in self._enabled:
                rejected.append((inst.instance_id, REJECT_CATEGORY_DISABLED))
            elif not inst.score >= self._config.score_threshold:  # NaN scores are refused too
                rejected.append((inst.instance_id, REJECT_LOW_SCORE))
            else:
                candidates.append(inst)
        if len(candidates) > self._config.max_objects:
            # Stable sort: equal scores keep their input order.
            by_score = sorted(range(len(candidates)), key=lambda i: -candidates[i].score)
            limit = self._config.max_objects
            keep = set(by_score[:limit])
            rejected.extend((candidates[i].instance_id, REJECT_MAX_OBJECTS) for i in by_score[limit:])
            candidates = [c for i, c in enumerate(candidates) if i in keep]
        return candidates, rejected

    def _prepare(self, frame: Frame, instances: Sequence[Instance]) -> tuple[ObjectBatch | None, list[tuple[int, str]]]:
        selected, rejected = self._select(instances)
        batch = None
        if selected:
            batch, refused = preprocess_instances(frame, selected, self._config.preprocess,
                                                  categories=self._config.categories, seed=self._seed)
            rejected.extend(refused)
        return batch, rejected

    def _finish(self, batch: ObjectBatch | None, outputs: dict[str, np.ndarray] | None,
                rejected: list[tuple[int, str]]) -> list[PoseEstimate]:
        if batch is None or outputs is None:
            return []
        poses, refused = decode_poses(outputs, batch, self._config.pose_source)
        rejected.extend(refused)
        poses = self._plausible(poses, batch, rejected)
        model = self._confidence
        if model is not None:
            poses = [with_confidence(p, model) for p in poses]
        return poses

    def __call__(self, frame: Frame, instances: Sequence[Instance]) -> FrameResult:
        return self.run_many([(frame, instances)])[0]

    def run_many(self, frames: Sequence[tuple[Frame, Sequence[Instance]]]) -> list[FrameResult]:
        """Several frames (e.g. the latest frame of each camera; `__call__` is one frame) with ONE engine
        call for all their objects, none when no frame has a usable object: each frame is preprocessed on its own, the batches are concatenated, the outputs
        split back by rows. Every result equals `self(frame, instances)` for its frame (the engine
        computes each object independently of the others in its batch); the engine and total
        timings are shared by all frames of the call."""
        t0 = time.perf_counter()
        prepared = [self._prepare(frame, instances) for frame, instances in frames]
        t1 = time.perf_counter()
        batches = [b for b, _ in prepared if b is not None]
        outputs: dict[str, np.ndarray] | None = None
        if len(batches) == 1:  # one frame: its tensors as they are, no copy
            outputs = self._engine.run(batches[0].tensors())
        elif batches:
            tensors = [b.tensors() for b in batches]
            outputs = self._engine.run({n: np.concatenate([t[n] for t in tensors]) for n in tensors[0]})
        t2 = time.perf_counter()
        results, row = [], 0
        for batch, rejected in prepared:
            rows = None
            if batch is not None and outputs is not None:
                b = len(batch.instance_ids)
                rows = {k: v[row:row + b] for k, v in outputs.items()}
                row += b
            poses = self._finish(batch, rows, rejected)
            results.append((poses, rejected))
        t3 = time.perf_counter()
        timings = (("preprocess", 1e3 * (t1 - t0)), ("engine", 1e3 * (t2 - t1)),
                   ("postprocess", 1e3 * (t3 - t2)), ("total", 1e3 * (t3 - t0)))
        return [FrameResult(poses=tuple(p), rejected=tuple(r), timings_ms=timings) for p, r in results]
