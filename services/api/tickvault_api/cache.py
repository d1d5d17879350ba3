"""A small thread-safe TTL cache for answers about windows that are wholly in the past.

The present is never cached: :meth:`ResultCache.cacheable` says a window may be cached only
when it ended more than a grace period ago (late trades — a backfilled gap — can still land
shortly after a minute closes, and the TTL bounds how long an answer can stay stale).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class ResultCache:
    """Least-recently-used cache of response bodies with a time to live."""

    def __init__(
        self,
        *,
        entries: int,
        ttl_seconds: float,
        grace_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries = entries
        self._ttl = ttl_seconds
        self._grace_us = int(grace_seconds * 1_000_000)
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Return whether anything is ever cached."""
        return self._entries > 0 and self._ttl > 0

    def cacheable(self, end_us: int | None, now_us: int) -> bool:
        """Return whether a window ending at *end_us* is wholly, safely in the past."""
        return self.enabled and end_us is not None and end_us + self._grace_us <= now_us

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Return the cached value for *key*, computing (and storing) it when absent."""
        now = self._clock()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > now:
                self._data.move_to_end(key)
                return hit[1]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._data[key] = (now + self._ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._entries:
                self._data.popitem(last=False)
        return value
