"""Approximate-time synchroniser for a fixed set of topics (message_filters is not on PyPI).

Each topic keeps a bounded queue of (stamp, message). When a message arrives, the newest
message of every other topic whose stamp lies within `slop` of it is looked up; when every
topic has one and the whole set spans no more than `slop`, the set is emitted and every
queued message at or before the matched ones is discarded (they can only match worse later).
Messages pushed out of a full queue are counted as unmatched.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Sequence


class ApproximateTimeSync:
    def __init__(self, topics: Sequence[str], slop_ns: int, queue_size: int,
                 callback: Callable[[dict[str, Any], int], None]) -> None:
        """`callback(messages_by_topic, stamp_ns_of_first_topic)` runs in the thread calling add()."""
        if len(set(topics)) != len(topics) or not topics:
            raise ValueError(f"topics must be distinct and non-empty, got {list(topics)}")
        if slop_ns < 0 or queue_size < 1:
            raise ValueError(f"need slop_ns >= 0 and queue_size >= 1, got {slop_ns}, {queue_size}")
        self.topics = tuple(topics)
        self.slop_ns = int(slop_ns)
        self._queues: dict[str, deque[tuple[int, Any]]] = {t: deque() for t in self.topics}
        self._queue_size = queue_size
        self._callback = callback
        self._lock = threading.Lock()
        self.unmatched = 0  # messages discarded without ever being part of an emitted set
        self.received = {t: 0 for t in self.topics}  # per topic, to tell a silent topic from bad stamps

    def add(self, topic: str, stamp_ns: int, msg: Any) -> None:
        with self._lock:
            self.received[topic] += 1
            queue = self._queues[topic]
            queue.append((int(stamp_ns), msg))
            while len(queue) > self._queue_size:
                queue.popleft()
                self.unmatched += 1
            match = self._find_match(topic, int(stamp_ns))
            if match is None:
                return
            for t, (stamp, _) in match.items():
                q = self._queues[t]
                kept = deque(item for item in q if item[0] > stamp)
                # Everything at or before the matched stamp goes; all but the matched one are lost.
                self.unmatched += len(q) - len(kept) - 1
                self._queues[t] = kept
        self._callback({t: m for t, (_, m) in match.items()}, match[self.topics[0]][0])

    def _find_match(self, pivot_topic: str, pivot_stamp: int) -> dict[str, tuple[int, Any]] | None:
        match: dict[str, tuple[int, Any]] = {}
        for topic in self.topics:
            candidates = [item for item in self._queues[topic] if abs(item[0] - pivot_stamp) <= self.slop_ns]
            if not candidates:
                return None
            match[topic] = min(candidates, key=lambda item: abs(item[0] - pivot_stamp))
        stamps = [stamp for stamp, _ in match.values()]
        if max(stamps) - min(stamps) > self.slop_ns:
            return None
        return match

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {t: len(q) for t, q in self._queues.items()}


class StampOrder:
    """Refuses frames whose stamp is not newer than the last accepted one (out of order).

    Exception: when the clock itself is behind the last accepted stamp, time was reset (a bag
    replayed in a loop, a simulator restarted); the order starts again instead of refusing every
    frame from then on.
    """

    def __init__(self) -> None:
        self.last_ns: int | None = None
        self.resets = 0

    def accept(self, stamp_ns: int, now_ns: int) -> bool:
        if self.last_ns is not None and stamp_ns <= self.last_ns:
            if now_ns >= self.last_ns:
                return False
            self.resets += 1
        self.last_ns = stamp_ns
        return True
