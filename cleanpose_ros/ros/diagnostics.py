"""Health bookkeeping of the node and its /diagnostics message.

`HealthMonitor` is thread safe: the ROS callbacks note inputs and drops, the worker notes
results and rejections, a timer reads a snapshot.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ..core import pipeline, postprocess
from ..core.errors import EngineError, InputError
from ..core.plausibility import PLAUSIBILITY_REASONS
from ..interop.converters import ns_to_stamp

#: Ways a message or frame is dropped without being wrong: the synchroniser found no partner for a
#: message ("unmatched"), or a newer frame replaced it in the latest-wins slot ("superseded").
#: Frames that are wrong (including "stale" and "out_of_order") are counted as rejected per reason.
DROP_KINDS = ("superseded", "unmatched")
#: Every reason an input or object can be refused for: listed in /diagnostics from the start,
#: so a monitor sees a zero instead of a missing key.
REJECT_REASONS = (*InputError.REASONS, pipeline.REJECT_UNKNOWN_CATEGORY, pipeline.REJECT_CATEGORY_DISABLED,
                  pipeline.REJECT_LOW_SCORE, pipeline.REJECT_MAX_OBJECTS, postprocess.REJECT_NON_FINITE,
                  postprocess.REJECT_DEGENERATE_ROTATION, postprocess.REJECT_INVALID_SIZE,
                  postprocess.REJECT_DEGENERATE_FIT, pipeline.REJECT_DUPLICATE_ID, *PLAUSIBILITY_REASONS,
                  *EngineError.REASONS)


@dataclass(frozen=True)
class HealthSnapshot:
    input_rate_hz: float
    output_rate_hz: float
    latency_p50_ms: float  # input stamp -> outputs published
    latency_p95_ms: float
    processing_p50_ms: float  # conversion + pipeline, in the worker
    processing_p95_ms: float
    frames_in: int
    frames_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # unexpected exceptions caught in the worker
    engine_calls: int = 0  # pipeline calls with objects (one engine call each, over every camera's frame)
    frames_per_engine_call: float = 0.0  # mean over the recent calls: > 1 when several cameras are batched

    def summary(self) -> str:
        dropped = sum(self.dropped.values())
        rejected = sum(self.rejected.values())
        latency = (f"latency p50 {self.latency_p50_ms:.0f} ms p95 {self.latency_p95_ms:.0f} ms"
                   if self.frames_out else "no latency yet")
        return (f"in {self.input_rate_hz:.1f} Hz, out {self.output_rate_hz:.1f} Hz, {latency},"
                f" frames {self.frames_in} in / {self.frames_out} out,"
                f" dropped {dropped} {self._nonzero(self.dropped)}, rejected {rejected} {self._nonzero(self.rejected)}")

    @staticmethod
    def _nonzero(counts: dict[str, int]) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in counts.items() if v) + "}"


class HealthMonitor:
    def __init__(self, window_s: float = 5.0, latency_window: int = 200) -> None:
        self._lock = threading.Lock()
        self.window_s = window_s
        self._inputs: deque[float] = deque()
        self._outputs: deque[float] = deque()
        self._latency_ms: deque[float] = deque(maxlen=latency_window)
        self._processing_ms: deque[float] = deque(maxlen=latency_window)
        self._frames_in = 0
        self._frames_out = 0
        self._dropped: Counter[str] = Counter({k: 0 for k in DROP_KINDS})
        self._rejected: Counter[str] = Counter({r: 0 for r in REJECT_REASONS})
        self._errors = 0
        self._engine_calls = 0
        self._frames_per_call: deque[int] = deque(maxlen=latency_window)
        self._last_log: dict[str, float] = {}

    def should_log(self, key: str, period_s: float) -> bool:
        """True at most once per `period_s` for each key: per-reason log throttling (rclpy's
        throttle is per call site, which would let one noisy reason hide all others)."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_log.get(key, -1e18) < period_s:
                return False
            self._last_log[key] = now
            return True

    def _trim(self, times: deque[float], now: float) -> None:
        while times and now - times[0] > self.window_s:
            times.popleft()

    def note_input(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._inputs.append(now)
            self._trim(self._inputs, now)
            self._frames_in += 1

    def note_dropped(self, kind: str, count: int = 1) -> None:
        if kind not in DROP_KINDS:
            raise ValueError(f"unknown drop kind {kind!r}")
        with self._lock:
            self._dropped[kind] += count

    def set_dropped(self, kind: str, total: int) -> None:
        """For drops counted elsewhere (the synchroniser keeps its own total)."""
        with self._lock:
            self._dropped[kind] = total

    def note_rejected(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._rejected[reason] += count

    def note_error(self) -> None:
        with self._lock:
            self._errors += 1

    def note_engine_call(self, frames: int) -> None:
        """One engine call served `frames` frames (the newest of as many cameras)."""
        with self._lock:
            self._engine_calls += 1
            self._frames_per_call.append(frames)

    def note_output(self, latency_ms: float, processing_ms: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._outputs.append(now)
            self._trim(self._outputs, now)
            self._latency_ms.append(latency_ms)
            self._processing_ms.append(processing_ms)
            self._frames_out += 1

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            now = time.monotonic()
            self._trim(self._inputs, now)
            self._trim(self._outputs, now)
            lat = np.asarray(self._latency_ms) if self._latency_ms else np.full(1, np.nan)
            proc = np.asarray(self._processing_ms) if self._processing_ms else np.full(1, np.nan)
            return HealthSnapshot(
                input_rate_hz=len(self._inputs) / self.window_s,
                output_rate_hz=len(self._outputs) / self.window_s,
                latency_p50_ms=float(np.percentile(lat, 50)), latency_p95_ms=float(np.percentile(lat, 95)),
                processing_p50_ms=float(np.percentile(proc, 50)), processing_p95_ms=float(np.percentile(proc, 95)),
                frames_in=self._frames_in, frames_out=self._frames_out,
                dropped=dict(self._dropped), rejected=dict(self._rejected), errors=self._errors,
                engine_calls=self._engine_calls,
                frames_per_engine_call=float(np.mean(self._frames_per_call)) if self._frames_per_call else 0.0,
            )


def diagnostic_array(snapshot: HealthSnapshot, name: str, hardware_id: str, stamp_ns: int,
                     min_rate_hz: float = 0.0, clock_problem: str = "") -> DiagnosticArray:
    """One DiagnosticStatus; WARN when no input arrives, inputs arrive below `min_rate_hz`, or the node's
    clock does not run (`clock_problem`, e.g. use_sim_time without /clock)."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id)
    if clock_problem:
        status.level, status.message = DiagnosticStatus.WARN, clock_problem
    elif snapshot.input_rate_hz == 0.0:
        status.level, status.message = DiagnosticStatus.WARN, "no synchronised input"
    elif snapshot.input_rate_hz < min_rate_hz:
        status.level, status.message = DiagnosticStatus.WARN, f"input rate {snapshot.input_rate_hz:.1f} Hz below {min_rate_hz} Hz"
    else:
        status.level, status.message = DiagnosticStatus.OK, "running"
    values = {
        "input_rate_hz": f"{snapshot.input_rate_hz:.2f}",
        "output_rate_hz": f"{snapshot.output_rate_hz:.2f}",
        "latency_p50_ms": f"{snapshot.latency_p50_ms:.1f}",
        "latency_p95_ms": f"{snapshot.latency_p95_ms:.1f}",
        "processing_p50_ms": f"{snapshot.processing_p50_ms:.1f}",
        "processing_p95_ms": f"{snapshot.processing_p95_ms:.1f}",
        "frames_in": str(snapshot.frames_in),
        "frames_out": str(snapshot.frames_out),
        "errors": str(snapshot.errors),
        "engine_calls": str(snapshot.engine_calls),
        "frames_per_engine_call": f"{snapshot.frames_per_engine_call:.2f}",
    }
    values.update({f"dropped_{k}": str(v) for k, v in snapshot.dropped.items()})
    values.update({f"rejected_{k}": str(v) for k, v in snapshot.rejected.items()})
    status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
    out = DiagnosticArray()
    out.header.stamp = ns_to_stamp(stamp_ns)
    out.status = [status]
    return out
