"""The cProfile table the profiling benchmarks print (bench/profile_*.py): own-time order, header row first."""
from __future__ import annotations

import cProfile
import io
import pstats
from typing import Callable


def profile_table(work: Callable[[], object], repeats: int, top: int) -> str:
    """Run `work` `repeats` times under cProfile; the `top` functions by own time (tottime, seconds)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        work()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:])
