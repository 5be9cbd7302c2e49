"""The predictions file: ground truth and predictions of every evaluated frame, one JSON line each.

Written while a dataset is evaluated (appending, flushed per frame, so a killed run resumes where
it stopped) and read back to compute the metrics (staged evaluation). Schema, version 1
(documented in docs/evaluation.md):

line 1 (header):
  {"schema": "cleanpose-predictions", "version": 1, "categories": ["bottle", ...],
   "meta": {... free-form: data folder, split, weights, engine, segmentation ...}}
every further line (one frame; N ground truths, M predictions):
  {"frame_id": "scene_1/0000",
   "gt":   {"class_ids": [N ints], "srts": [N 4x4 nested lists], "scales": [N [x, y, z]],
            "handle_visible": [N bools], "instance_ids": [N ints or empty]},
   "pred": {"class_ids": [M ints], "scores": [M floats], "srts": [M 4x4], "scales": [M [x, y, z]],
            "instance_ids": [M ints or empty],
            optional: "confidences": [M floats, NaN = none], "features": [M [F floats]]},
   "rejected": [[instance_id, reason], ...]}

class_ids are 0-based indices into the header's categories (NOCS class id = index + 1);
srts = [[s R, t], [0, 0, 0, 1]] with s = metric box diagonal in metres (scale folded in, as NOCS
`gt_RTs` / `pred_RTs`); scales = box extents / diagonal (NOCS `gt_scales` / `pred_scales`).
Floats are written with Python's shortest round-trip repr, so reading gives back the exact values;
a non-finite value is written as the token NaN / Infinity (Python's JSON extension).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..core.types import CATEGORIES
from ..metrics.frame_record import FrameRecord

logger = logging.getLogger(__name__)

SCHEMA = "cleanpose-predictions"
VERSION = 1


def record_to_json(record: FrameRecord) -> dict[str, Any]:
    return {
        "frame_id": record.frame_id,
        "gt": {"class_ids": record.gt_class_ids.tolist(), "srts": record.gt_srts.tolist(),
               "scales": record.gt_scales.tolist(), "handle_visible": record.gt_handle_visible.tolist(),
               "instance_ids": record.gt_instance_ids.tolist()},
        "pred": {"class_ids": record.pred_class_ids.tolist(), "scores": record.pred_scores.tolist(),
                 "srts": record.pred_srts.tolist(), "scales": record.pred_scales.tolist(),
                 "instance_ids": record.pred_instance_ids.tolist(),
                 **({"confidences": record.pred_confidences.tolist()} if len(record.pred_confidences) else {}),
                 **({"features": record.pred_features.tolist()} if record.pred_features.size else {})},
        "rejected": [list(r) for r in record.rejected],
    }


def record_from_json(obj: Mapping[str, Any]) -> FrameRecord:
    try:
        gt, pred = obj["gt"], obj["pred"]
        return FrameRecord(
            frame_id=str(obj["frame_id"]),
            gt_class_ids=gt["class_ids"], gt_srts=gt["srts"], gt_scales=gt["scales"],
            gt_handle_visible=gt["handle_visible"], gt_instance_ids=gt.get("instance_ids", []),
            pred_class_ids=pred["class_ids"], pred_scores=pred["scores"], pred_srts=pred["srts"],
            pred_scales=pred["scales"], pred_instance_ids=pred.get("instance_ids", []),
            pred_confidences=pred.get("confidences", []), pred_features=pred.get("features", []),
            rejected=tuple(tuple(r) for r in obj.get("rejected", [])),
        )
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed predictions record {str(obj)[:120]}...: {e!r}") from None


def _header(categories: Sequence[str], meta: Mapping[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "version": VERSION, "categories": list(categories), "meta": dict(meta)}


def _check_header(header: Mapping[str, Any], path: Path) -> None:
    if header.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a predictions file (schema {header.get('schema')!r})")
    if header.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported predictions file version {header.get('version')!r}")


def _complete_lines(path: Path) -> tuple[list[str], int]:
    """Lines that end with a newline, and the byte length they span (a killed writer may leave
    a partial last line, which is dropped)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("%s: dropping an incomplete last line (%d bytes)", path, len(data) - end)
    return data[:end].decode("utf-8").splitlines(), end


def read_predictions(path: str | os.PathLike) -> tuple[dict[str, Any], list[FrameRecord]]:
    """(header, records in file order). Raises ValueError on a foreign or malformed file."""
    header, records = None, []
    for header, record in _iter_file(Path(path)):
        if record is not None:
            records.append(record)
    if header is None:
        raise ValueError(f"{path}: empty predictions file")
    return header, records


def _iter_file(path: Path) -> Iterator[tuple[dict[str, Any], FrameRecord | None]]:
    lines, _ = _complete_lines(path)
    if not lines:
        return
    header = json.loads(lines[0])
    _check_header(header, path)
    yield header, None
    for n, line in enumerate(lines[1:], start=2):
        if line.strip():
            try:
                yield header, record_from_json(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from None


class PredictionsWriter:
    """Appends frame records to a predictions file; with resume=True continues an existing file.

    with PredictionsWriter(path, CATEGORIES, meta) as w:
        for ...: if frame_id not in w.done: w.write(record)
    """

    def __init__(self, path: str | os.PathLike, categories: Sequence[str] = CATEGORIES,
                 meta: Mapping[str, Any] | None = None, resume: bool = True) -> None:
        self.path = Path(path)
        self.categories = tuple(categories)
        self.done: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists() and self.path.stat().st_size > 0:
            lines, valid_bytes = _complete_lines(self.path)
            if lines:
                header = json.loads(lines[0])
                _check_header(header, self.path)
                if tuple(header["categories"]) != self.categories:
                    raise ValueError(f"{self.path}: written for categories {header['categories']}, "
                                     f"not {list(self.categories)}; use another output or resume=False")
                self.done = {str(json.loads(line)["frame_id"]) for line in lines[1:] if line.strip()}
            with open(self.path, "r+b") as f:  # cut a partial last line before appending
                f.truncate(valid_bytes)
            self._file = open(self.path, "a", encoding="utf-8")
            if not lines:
                self._write_line(_header(self.categories, meta or {}))
            logger.info("resuming %s: %d frames already done", self.path, len(self.done))
        else:
            self._file = open(self.path, "w", encoding="utf-8")
            self._write_line(_header(self.categories, meta or {}))

    def _write_line(self, obj: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._file.flush()

    def write(self, record: FrameRecord) -> None:
        if record.frame_id in self.done:
            raise ValueError(f"frame {record.frame_id!r} is already in {self.path}")
        if record.num_gt and record.gt_class_ids.max() >= len(self.categories):
            raise ValueError(f"frame {record.frame_id!r}: class id outside the {len(self.categories)} categories")
        self._write_line(record_to_json(record))
        self.done.add(record.frame_id)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "PredictionsWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def records_equal(a: FrameRecord, b: FrameRecord) -> bool:
    """Exact equality of two records (NaN equal to NaN); used by tests and the replay tool."""
    arrays = ("gt_class_ids", "gt_srts", "gt_scales", "gt_handle_visible", "pred_class_ids", "pred_scores",
              "pred_srts", "pred_scales", "gt_instance_ids", "pred_instance_ids")
    return a.frame_id == b.frame_id and a.rejected == b.rejected and all(
        np.array_equal(getattr(a, n), getattr(b, n), equal_nan=getattr(a, n).dtype.kind == "f") for n in arrays)
