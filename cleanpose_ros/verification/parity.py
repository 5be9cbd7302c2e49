"""Do two pipelines (e.g. torch vs onnxruntime) give the same poses on the same frames?

Compares per instance: geodesic rotation difference (degrees, full matrix: two engines of one
network must agree on it exactly, symmetry is no excuse), translation and size differences (mm).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..core.geometry import rotation_angle_deg
from ..core.pipeline import Pipeline
from ..core.types import Frame, Instance

logger = logging.getLogger(__name__)

#: Acceptance bounds of the engine parity test (issue: 0.1 deg, 0.1 mm, 0.1 mm).
DEFAULT_TOLERANCES = {"rotation_deg": 0.1, "translation_mm": 0.1, "size_mm": 0.1}

NamedFrame = tuple[str, Frame, Sequence[Instance]]


@dataclass(frozen=True)
class InstanceDifference:
    frame: str
    instance_id: int
    category: str
    rotation_deg: float
    translation_mm: float
    size_mm: float


@dataclass(frozen=True)
class ParityReport:
    reference: str
    candidate: str
    differences: tuple[InstanceDifference, ...]
    #: (frame, instance_id, "reference" | "candidate"): instances posed by one pipeline only
    unmatched: tuple[tuple[str, int, str], ...]
    tolerances: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))

    def worst(self) -> dict[str, float]:
        keys = ("rotation_deg", "translation_mm", "size_mm")
        return {k: max((getattr(d, k) for d in self.differences), default=0.0) for k in keys}

    @property
    def passed(self) -> bool:
        worst = self.worst()
        return not self.unmatched and bool(self.differences) and all(worst[k] <= v for k, v in self.tolerances.items())

    def to_json(self) -> str:
        return json.dumps({"reference": self.reference, "candidate": self.candidate, "passed": self.passed,
                           "tolerances": self.tolerances, "worst": self.worst(),
                           "num_instances": len(self.differences),
                           "unmatched": [list(u) for u in self.unmatched],
                           "instances": [asdict(d) for d in self.differences]}, indent=2)

    def table(self) -> str:
        """Markdown table: one row per instance, then the worst case against the tolerance."""
        lines = [f"| frame | id | category | rot diff (deg) | trans diff (mm) | size diff (mm) |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for d in self.differences:
            lines.append(f"| {d.frame} | {d.instance_id} | {d.category} | {d.rotation_deg:.2e} | "
                         f"{d.translation_mm:.2e} | {d.size_mm:.2e} |")
        w, t = self.worst(), self.tolerances
        lines.append(f"| **worst** | | | {w['rotation_deg']:.2e} (<= {t['rotation_deg']}) | "
                     f"{w['translation_mm']:.2e} (<= {t['translation_mm']}) | {w['size_mm']:.2e} (<= {t['size_mm']}) |")
        verdict = "PASS" if self.passed else "FAIL"
        extra = f", {len(self.unmatched)} instance(s) posed by one engine only" if self.unmatched else ""
        lines.append(f"\n{verdict}: {self.candidate} vs {self.reference} on {len(self.differences)} instances{extra}")
        return "\n".join(lines)


def compare_pipelines(reference: Pipeline, candidate: Pipeline, frames: Iterable[NamedFrame],
                      tolerances: dict[str, float] | None = None) -> ParityReport:
    diffs: list[InstanceDifference] = []
    unmatched: list[tuple[str, int, str]] = []
    for name, frame, instances in frames:
        ref = {p.instance_id: p for p in reference(frame, instances).poses}
        cand = {p.instance_id: p for p in candidate(frame, instances).poses}
        unmatched += [(name, i, "reference") for i in sorted(set(ref) - set(cand))]
        unmatched += [(name, i, "candidate") for i in sorted(set(cand) - set(ref))]
        for i in sorted(set(ref) & set(cand)):
            a, b = ref[i], cand[i]
            diffs.append(InstanceDifference(
                frame=name, instance_id=i, category=a.category,
                rotation_deg=rotation_angle_deg(a.rotation, b.rotation),
                translation_mm=1e3 * float(np.linalg.norm(a.translation - b.translation)),
                size_mm=1e3 * float(np.abs(a.size - b.size).max())))
    return ParityReport(reference=f"{reference.engine.kind}:{reference.engine.active_provider}",
                        candidate=f"{candidate.engine.kind}:{candidate.engine.active_provider}",
                        differences=tuple(diffs), unmatched=tuple(unmatched),
                        tolerances=dict(tolerances or DEFAULT_TOLERANCES))


def synthetic_parity_frames(count: int = 3, objects_per_frame: int = 4) -> Iterator[NamedFrame]:
    from .sample_frames import synthetic_frame

    for k in range(count):
        frame, instances = synthetic_frame(objects_per_frame, seed=100 + k)
        yield f"synthetic_{k}", frame, instances


def parity_frames(fixture_dir: str | Path | None, max_frames: int = 3) -> Iterator[NamedFrame]:
    """Frames of a NOCS-format fixture directory when given, synthetic ones otherwise."""
    if fixture_dir is None:
        yield from synthetic_parity_frames(max_frames)
        return
    from .fixture_frames import nocs_fixture_frames

    yield from nocs_fixture_frames(Path(fixture_dir), max_frames)
