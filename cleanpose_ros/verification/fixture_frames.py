"""Frames of a NOCS-format tree (e.g. test/fixtures/nocs_mini) for parity checks, with GT instances."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

from ..core.types import Frame, Instance


def source_splits(root: Path) -> list[tuple[str, str]]:
    """(source, split) pairs of the tree that hold frames, e.g. [("real", "test")]."""
    found = []
    for source_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for split_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            if next(split_dir.glob("*/*_color.png"), None) is not None:
                found.append((source_dir.name, split_dir.name))
    return found


def nocs_fixture_frames(root: Path, max_frames: int) -> Iterator[tuple[str, Frame, Sequence[Instance]]]:
    """Up to `max_frames` (name, frame, ground-truth instances) of a NOCS tree, test splits first."""
    from ..data.nocs_reader import NocsReader

    pairs = sorted(source_splits(root), key=lambda p: (p[1] != "test", p))
    if not pairs:
        raise FileNotFoundError(f"no NOCS-format frames (<source>/<split>/<scene>/XXXX_color.png) under {root}")
    produced = 0
    for source, split in pairs:
        reader = NocsReader(root, source=source, split=split)
        for record in reader:
            if produced >= max_frames:
                return
            yield f"{source}/{record.rel}", record.frame, record.instances
            produced += 1
