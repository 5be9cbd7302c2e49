"""Size-1 hand-overs between the ROS callbacks and the one inference worker, one per key (camera).

The producer never waits: putting into a full slot replaces (drops) the older item, so the
worker always starts on the freshest frame and a slow model cannot build a backlog. The slots of
all keys share one lock, so the worker takes the newest item of every camera at once and batches them.
"""
from __future__ import annotations

import threading
from typing import Generic, Hashable, TypeVar

T = TypeVar("T")


class LatestPerKey(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: dict[Hashable, T] = {}
        self._closed = False
        self.superseded = 0  # items replaced before the worker took them

    def put(self, key: Hashable, item: T) -> T | None:
        """Store `item` under `key`; returns the item it replaced (dropped), if any. Never blocks on the worker."""
        with self._cond:
            dropped = self._items.get(key)
            self._items[key] = item
            if dropped is not None:
                self.superseded += 1
            self._cond.notify()
            return dropped

    def take_all(self, timeout_s: float | None = None) -> list[tuple[Hashable, T]]:
        """Wait for at least one item (or close / timeout, then []) and empty every slot; items in
        the order their keys first received one."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout=timeout_s)
            items, self._items = list(self._items.items()), {}
            return items

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

