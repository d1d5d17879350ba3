"""One queue for every REST request of a process (a collector, an import): most urgent first,
all within the budget.

Binance counts request weight per IP per calendar minute (6,000). The collector allows itself
a share of it (:class:`~tickvault.rest.parse.WeightGate`), and each use of REST a
part of that share (:data:`CEILINGS`), so that the uses that can wait (the universe, the
tickers, the audit) never spend what a backfill needs. When several requests wait, the one
of the most urgent :class:`Priority` goes first, in arrival order within a priority.

A 429 or 418 holds *every* request until its ``Retry-After`` has passed (:meth:`hold`):
Binance bans an IP that keeps asking.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from enum import IntEnum

from tickvault.rest.parse import WeightGate


class Priority(IntEnum):
    """What a request is for; lower goes first."""

    BACKFILL = 0  # a gap of the live capture: every minute it waits, REST may forget it
    TAIL = 1  # ticker/24hr: the latest id of every symbol
    UNIVERSE = 2  # exchangeInfo: listings, halts, delistings
    AUDIT = 3  # refilling holes found in PostgreSQL
    ARCHIVE = 4  # repairing the holes of an archive import (``tickvault import``)


# The part of the collector's share each use may spend in one minute.
CEILINGS = {
    Priority.BACKFILL: 1.0,
    Priority.TAIL: 0.8,
    Priority.UNIVERSE: 0.8,
    Priority.AUDIT: 0.6,
    Priority.ARCHIVE: 0.6,
}


class RestScheduler:
    """Grant REST requests their weight, most urgent first, within the minute's budget."""

    def __init__(self, gate: WeightGate, clock: Callable[[], float] = time.time) -> None:
        self.gate = gate
        self._clock = clock
        self._queue: list[tuple[int, int]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self._held_until = 0.0
        self.spent: dict[Priority, int] = dict.fromkeys(Priority, 0)

    def waiting(self) -> int:
        """Return how many requests wait for their turn."""
        return len(self._queue)

    async def acquire(self, weight: int, priority: Priority) -> None:
        """Wait until a request of *weight* may go, then count it as spent."""
        ticket = (int(priority), next(self._order))
        heapq.heappush(self._queue, ticket)
        try:
            while True:
                if self._queue[0] == ticket:
                    wait = self._wait(weight, priority)
                    if wait <= 0:
                        heapq.heappop(self._queue)
                        self.gate.spend(weight, self._clock())
                        self.spent[priority] += weight
                        return
                else:
                    wait = None
                await self._next_change(wait)
        except BaseException:
            if ticket in self._queue:
                self._queue.remove(ticket)
                heapq.heapify(self._queue)
            raise
        finally:
            self._notify()

    def hold(self, seconds: float) -> None:
        """Let no request go for *seconds* (the exchange said 429/418 with Retry-After)."""
        self._held_until = max(self._held_until, self._clock() + seconds)
        self._notify()

    def observe(self, used_header: str | None) -> None:
        """Take ``X-MBX-USED-WEIGHT-1M`` as the truth about this minute (other clients too)."""
        self.gate.observe(used_header, self._clock())

    def _wait(self, weight: int, priority: Priority) -> float:
        now = self._clock()
        if self._held_until > now:
            return self._held_until - now
        return self.gate.delay(weight, now, CEILINGS[priority])

    async def _next_change(self, timeout: float | None) -> None:
        event = self._changed
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass

    def _notify(self) -> None:
        """Wake every waiter to look at the queue again."""
        self._changed.set()
        self._changed = asyncio.Event()
