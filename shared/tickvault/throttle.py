"""A throttled logger: repetitive lines at a bounded rate, saying how many were held back.

A failing store or a stream of bad frames would otherwise write a line per event. A
:class:`ThrottledLog` lets at most ``burst`` lines through per ``interval`` seconds and tells,
on the next line it lets through, how many it held back in between. The same
:class:`Throttle` says when a periodic task is due (:meth:`Throttle.due`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Throttle:
    """Let at most *burst* events through per *interval* seconds, counting the rest."""

    def __init__(
        self, interval: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._burst = burst
        self._clock = clock
        self._window_end = float("-inf")
        self._passed = 0
        self.suppressed = 0

    def allow(self) -> int | None:
        """Return how many events were held back since the last one let through, or None."""
        now = self._clock()
        if now >= self._window_end:
            self._window_end, self._passed = now + self._interval, 0
        if self._passed >= self._burst:
            self.suppressed += 1
            return None
        self._passed += 1
        held, self.suppressed = self.suppressed, 0
        return held

    def due(self) -> bool:
        """Return whether an event may go through now (with the default *burst* of 1: whether
        a task run every *interval* seconds is due; the first call always is)."""
        return self.allow() is not None


class ThrottledLog:
    """A logger's ``warning`` at a bounded rate (see :class:`Throttle`)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._throttle = Throttle(interval, burst=burst, clock=clock)

    def warning(self, msg: str, *args: object) -> bool:
        """Log *msg* % *args* unless throttled; return whether the line was written."""
        held = self._throttle.allow()
        if held is None:
            return False
        if held:
            msg, args = msg + " (%d similar lines not logged)", (*args, held)
        self._logger.warning(msg, *args)
        return True
