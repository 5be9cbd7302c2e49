"""Where a training step's wall time goes: waiting for data, forward (+ loss), backward, optimiser,
health signal. Summaries are per step, averaged since the last summary, plus object samples per second."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

PHASES = ("data", "forward", "backward", "optimiser", "health")


class StepTimer:
    def __init__(self) -> None:
        self._totals: dict[str, float] = defaultdict(float)
        self._steps = 0
        self._start = time.perf_counter()

    def wait_for_data(self, loader: Iterable[T]) -> Iterator[T]:
        """Iterate `loader`, timing how long each next batch takes to arrive (one step each)."""
        it = iter(loader)
        while True:
            t = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                return
            self._totals["data"] += time.perf_counter() - t
            self._steps += 1
            yield batch

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self._totals[name] += time.perf_counter() - t

    def summary(self, batch_size: int) -> dict[str, float]:
        """Mean seconds per step of each phase and in all, and object samples per second; then resets."""
        now = time.perf_counter()
        steps = max(self._steps, 1)
        wall = now - self._start
        row = {f"time/{k}": self._totals.get(k, 0.0) / steps for k in PHASES}
        row["sec_per_step"] = wall / steps
        row["object_samples_per_sec"] = steps * batch_size / wall if wall > 0 else 0.0
        self._totals.clear()
        self._steps = 0
        self._start = now
        return row
