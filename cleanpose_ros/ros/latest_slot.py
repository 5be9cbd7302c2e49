"""A size-1 hand-over between the ROS callbacks and the one inference worker.

The producer never waits: putting into a full slot replaces (drops) the older item, so the
worker always starts on the freshest frame and a slow model cannot build a backlog.
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.superseded = 0  # items replaced before the worker took them

    def put(self, item: T) -> T | None:
        """Store `item`; returns the item it replaced (dropped), if any. Never blocks on the worker."""
        with self._cond:
            dropped, self._item = self._item, item
            if dropped is not None:
                self.superseded += 1
            self._cond.notify()
            return dropped

    def take(self, timeout_s: float | None = None) -> T | None:
        """Wait for an item (or close / timeout, then None) and empty the slot."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
