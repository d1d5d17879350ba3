"""Pure timing policies: capped jittered backoff, and a throttle for repetitive log lines."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def backoff_delays(
    base: float = 0.05, cap: float = 5.0, *, rng: Callable[[], float] = random.random
) -> Iterator[float]:
    """Yield ever longer waits (doubling up to *cap*), each jittered to 50-100 % of its value."""
    delay = base
    while True:
        yield delay * (0.5 + 0.5 * rng())
        delay = min(cap, delay * 2)


class Throttle:
    """Lets an event through at most once per *interval* seconds, counting the ones held back."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")
        self.suppressed = 0

    def allow(self) -> int | None:
        """Return how many events were held back since the last one let through, or None."""
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return None
        self._next = now + self._interval
        held, self.suppressed = self.suppressed, 0
        return held


class Every:
    """Says when a periodic chore is due (the first call is always due)."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")

    def due(self) -> bool:
        """Return whether the chore is due now, and if so schedule the next one."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self._interval
        return True
