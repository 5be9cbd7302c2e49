"""The one evaluation path: run the pipeline over samples, write the predictions file, compute the
NOCS metrics from that file and write the table / JSON / plots.

Used by `cleanpose-evaluate` (NOCS folders) and by the rosbag replay tool, so both produce their
metrics through exactly the same code: `evaluate_dataset` always re-reads the predictions file it
just wrote and evaluates it with `evaluate_predictions_file`.

Output folder layout: predictions.jsonl, metrics.json, metrics.txt, ap_vs_iou.png,
ap_vs_rotation.png, ap_vs_translation.png; when the predictions carry a confidence also
reliability.png and risk_coverage.png (metrics/confidence.py; metrics.json "confidence").
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from ..core.errors import InputError
from ..core.types import CATEGORIES, Frame, FrameResult, Instance
from ..metrics.confidence import pair_by_instance_id, plot_confidence, summarise
from ..metrics.evaluator import NocsEvaluator
from ..metrics.frame_record import FrameRecord
from ..metrics.report import format_table, plot_curves, write_json
from .predictions import PredictionsWriter, read_predictions

logger = logging.getLogger(__name__)

PREDICTIONS_FILENAME = "predictions.jsonl"
METRICS_JSON = "metrics.json"
METRICS_TABLE = "metrics.txt"


class GroundTruthLike(Protocol):
    """What the runner needs of a frame's ground truth (data.nocs_reader.GroundTruth fits)."""

    category_names: Sequence[str]
    instance_ids: np.ndarray
    rotations: np.ndarray  # (N, 3, 3)
    translations: np.ndarray  # (N, 3) m
    sizes_m: np.ndarray  # (N, 3) m
    handle_visibility: np.ndarray  # (N,)


@dataclass(frozen=True, eq=False)
class EvaluationSample:
    """One frame to evaluate: the pipeline input and the ground truth (None = no annotation)."""

    frame_id: str
    frame: Frame
    instances: Sequence[Instance]
    gt: GroundTruthLike | None


def frame_record_from_result(sample: EvaluationSample, result: FrameResult,
                             categories: Sequence[str] = CATEGORIES) -> FrameRecord:
    """Combine a sample's ground truth with the pipeline result. Ground truths of categories
    outside `categories` are dropped (they cannot be predicted)."""
    gt = sample.gt
    keep: list[int] = []
    if gt is not None:
        names = list(gt.category_names)
        keep = [i for i, name in enumerate(names) if name in categories]
        if len(keep) < len(names):
            logger.debug("frame %s: %d ground truths of other categories ignored", sample.frame_id,
                         len(names) - len(keep))
    return FrameRecord.from_metric(
        frame_id=sample.frame_id,
        gt_categories=[gt.category_names[i] for i in keep] if gt is not None else [],
        gt_rotations=[gt.rotations[i] for i in keep] if gt is not None else [],
        gt_translations=[gt.translations[i] for i in keep] if gt is not None else [],
        gt_sizes_m=[gt.sizes_m[i] for i in keep] if gt is not None else [],
        gt_handle_visible=[bool(gt.handle_visibility[i]) for i in keep] if gt is not None else [],
        gt_instance_ids=[int(gt.instance_ids[i]) for i in keep] if gt is not None else [],
        poses=[p for p in result.poses if p.category in categories],
        categories=categories,
        rejected=result.rejected,
    )


def predict_to_file(pipeline: Callable[[Frame, Sequence[Instance]], FrameResult],
                    samples: Iterable[EvaluationSample], predictions_path: str | os.PathLike,
                    categories: Sequence[str] = CATEGORIES, meta: Mapping[str, Any] | None = None,
                    resume: bool = True, total: int | None = None) -> Path:
    """Run the pipeline on every sample not yet in the predictions file and append its record."""
    path = Path(predictions_path)
    timings: list[float] = []
    with PredictionsWriter(path, categories, meta or {}, resume=resume) as writer:
        skipped = 0
        for sample in tqdm(samples, total=total, desc="evaluate", unit="frame"):
            if sample.frame_id in writer.done:
                skipped += 1
                continue
            try:
                result = pipeline(sample.frame, sample.instances)
            except InputError as e:  # the whole frame is unusable: its objects count as missed
                logger.warning("frame %s refused: %s", sample.frame_id, e)
                result = FrameResult(poses=(), rejected=tuple((i.instance_id, e.reason) for i in sample.instances))
            timings.extend(ms for stage, ms in result.timings_ms if stage == "total")
            writer.write(frame_record_from_result(sample, result, categories))
    if skipped:
        logger.info("%d frames were already in %s", skipped, path)
    if timings:
        logger.info("pipeline time per frame: mean %.1f ms, median %.1f ms over %d frames",
                    float(np.mean(timings)), float(np.median(timings)), len(timings))
    return path


def evaluate_records(records: Iterable[FrameRecord], categories: Sequence[str] = CATEGORIES,
                     tie_order: str = "expected") -> dict[str, Any]:
    evaluator = NocsEvaluator(categories=categories, tie_order=tie_order)
    for record in records:
        evaluator.process(record)
    return evaluator.evaluate()


def evaluate_predictions_file(predictions_path: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                              plots: bool = True, tie_order: str = "expected") -> dict[str, Any]:
    """Metrics of a predictions file; with out_dir also metrics.json, metrics.txt and the plots.
    tie_order: how tied scores enter the AP (metrics/average_precision.py)."""
    header, records = read_predictions(predictions_path)
    metrics = evaluate_records(records, header["categories"], tie_order)
    pairs = pair_by_instance_id(records, header["categories"])
    if len(pairs) and np.isfinite(pairs.confidences).any():
        metrics["confidence"] = summarise(pairs, header["categories"])
    if out_dir is not None:
        out = Path(out_dir)
        write_json({**metrics, "source": {"predictions_file": str(predictions_path), "meta": header["meta"]}},
                   out / METRICS_JSON)
        (out / METRICS_TABLE).write_text(format_table(metrics) + "\n")
        if plots:
            plot_curves(metrics, out)
            if "confidence" in metrics:
                plot_confidence(pairs, out)
    return metrics


def evaluate_dataset(pipeline: Callable[[Frame, Sequence[Instance]], FrameResult],
                     frames_iterable: Iterable[EvaluationSample], out_dir: str | os.PathLike,
                     categories: Sequence[str] | None = None, meta: Mapping[str, Any] | None = None,
                     resume: bool = True, total: int | None = None, plots: bool = True,
                     tie_order: str = "expected") -> dict[str, Any]:
    """Predict every sample into out_dir/predictions.jsonl (resuming), then evaluate that file.

    categories: the evaluated category list (default: the pipeline's config.categories, else
    the NOCS six). Returns the metrics dict of NocsEvaluator.evaluate.
    """
    if categories is None:
        config = getattr(pipeline, "config", None)
        categories = tuple(config.categories) if config is not None else CATEGORIES
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = predict_to_file(pipeline, frames_iterable, out / PREDICTIONS_FILENAME, categories, meta, resume, total)
    return evaluate_predictions_file(path, out, plots=plots, tie_order=tie_order)


def nocs_samples(reader: Any, segmentation_dir: str | os.PathLike | None = None,
                 skip: Iterable[str] = ()) -> Iterator[EvaluationSample]:
    """Samples of a data.nocs_reader.NocsReader, with ground-truth masks or the instances of a
    segmentation-results folder. Frames whose id is in `skip` are not read at all (resume)."""
    skip = set(skip)
    for rel in reader.rels:
        if rel in skip:
            continue
        rec = reader.read(rel)
        instances = reader.segmentation(rel, segmentation_dir) if segmentation_dir is not None else rec.instances
        yield EvaluationSample(frame_id=rel, frame=rec.frame, instances=instances, gt=rec.gt)
