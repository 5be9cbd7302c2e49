"""Which samples every training step sees: a pure function of (seed, step).

Keeping the whole schedule a function of the step makes resume exact without saving sampler
state: step k of epoch e always draws the same objects with the same augmentation seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class MixedSchedule:
    """Weighted mixing of several datasets into fixed-size batches of global indices."""

    lengths: tuple[int, ...]  # samples per source
    weights: tuple[float, ...]  # relative share of each source in the mix
    batch_size: int
    seed: int

    def __post_init__(self) -> None:
        if len(self.lengths) != len(self.weights) or not self.lengths:
            raise ValueError("lengths and weights must be non-empty and of equal length")
        if any(n <= 0 for n in self.lengths):
            raise ValueError(f"every data source needs samples, got lengths {self.lengths}")

    @property
    def total(self) -> int:
        return int(sum(self.lengths))

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.total // self.batch_size)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        # each source gets weight_s of the epoch; inside a source, samples are drawn uniformly
        p = np.concatenate([np.full(n, w / n) for n, w in zip(self.lengths, self.weights)])
        p /= p.sum()
        rng = np.random.default_rng([self.seed, epoch])
        if len(self.lengths) == 1:
            return rng.permutation(self.total)
        return rng.choice(self.total, size=self.steps_per_epoch * self.batch_size, replace=True, p=p)

    def batch(self, step: int) -> list[tuple[int, tuple[int, int, int]]]:
        """Global sample indices of `step`, each with its augmentation seed key."""
        epoch, k = divmod(step, self.steps_per_epoch)
        order = self._epoch_order(epoch)[k * self.batch_size:(k + 1) * self.batch_size]
        return [(int(i), (self.seed, step, j)) for j, i in enumerate(order)]

    def locate(self, index: int) -> tuple[int, int]:
        """Global index -> (source, local index)."""
        s = 0
        for s, n in enumerate(self.lengths):
            if index < n:
                return s, index
            index -= n
        raise IndexError(index)


class StepBatchSampler:
    """A batch sampler for DataLoader that replays MixedSchedule from `start_step`; `rows` selects one
    data-parallel shard of every batch (training/distributed.py), default the whole batch."""

    def __init__(self, schedule: MixedSchedule, start_step: int, end_step: int, rows: slice = slice(None)) -> None:
        self.schedule, self.start, self.end, self.rows = schedule, start_step, end_step, rows

    def __iter__(self):
        for step in range(self.start, self.end):
            yield self.schedule.batch(step)[self.rows]

    def __len__(self) -> int:
        return max(0, self.end - self.start)


def source_lengths(datasets: Sequence) -> tuple[int, ...]:
    return tuple(len(d) for d in datasets)
