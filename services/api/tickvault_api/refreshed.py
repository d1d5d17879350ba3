"""A value each API process reads again at most every so many seconds.

The tracked symbols (a Redis hash of up to thousands of names) and the standby's lag (a query
of its own) cost more to read than the requests that need them, so each process keeps the last
answer for a while (:class:`Refreshed`): :class:`tickvault_api.tracked.TrackedSymbols` and
:class:`tickvault_api.standby.StandbyGate` both keep theirs in one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class Refreshed(Generic[T]):
    """What *read* last returned, read again once it is *max_age_s* seconds old.

    One thread reads at a time; the others wait for its answer rather than read too. When
    *read* raises one of *kept_on* while an answer is kept, that answer stands *retry_s* more
    seconds (and a warning says so); with none kept, the error goes to the caller.
    """

    read: Callable[[], T]
    max_age_s: float
    _: KW_ONLY
    what: str
    kept_on: tuple[type[BaseException], ...] = ()
    retry_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    # the answer and until when it stands, in one attribute so a reader sees a matching pair
    _kept: tuple[T, float] | None = field(default=None, init=False)

    @property
    def last(self) -> T | None:
        """Return the answer kept (None before the first read)."""
        kept = self._kept
        return None if kept is None else kept[0]

    def get(self) -> T:
        """Return the kept answer, read again first when it is too old."""
        kept = self._kept
        if kept is not None and self.clock() < kept[1]:
            return kept[0]
        with self._lock:
            kept = self._kept  # another thread may have read it while this one waited
            if kept is not None and self.clock() < kept[1]:
                return kept[0]
            return self._read_locked()

    def refresh(self) -> T:
        """Read the answer now, whatever its age, and keep it."""
        with self._lock:
            return self._read_locked()

    def _read_locked(self) -> T:
        try:
            value = self.read()
        except self.kept_on as exc:
            if self._kept is None:
                raise
            log.warning("keeping %s: reading it failed (%s)", self.what, type(exc).__name__)
            value, max_age_s = self._kept[0], self.retry_s
        else:
            max_age_s = self.max_age_s
        self._kept = (value, self.clock() + max_age_s)
        return value
