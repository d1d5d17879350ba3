"""Fill the live capture's gaps from REST: the collector's backfill, most urgent first.

Gaps arrive in the :class:`~tickvault_collector.gaps.GapBook` from the sequencer (a jump in
ids), the tail checks (:mod:`tickvault_collector.tails`) and the buffer. The backfiller asks
the book which symbol to repair next (the oldest gap, then the busiest symbol) and fetches one
``historicalTrades`` page for it, which serves every gap of that symbol it covers. Its
requests go first in the REST scheduler. A symbol whose requests fail rests for a while, so
it never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tickvault.codec import GapRecord, GapStatus
from tickvault.errors import ExchangeError
from tickvault.retry import Backoff
from tickvault.tick import Tick
from tickvault_collector.gaps import Gap, GapBook, plan_page
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import PAGE_RETRY, RestClient

log = logging.getLogger(__name__)

EMPTY_PAGES_BEFORE_GIVING_UP = 5


class Backfiller:
    """Drain open gaps one REST page at a time, the most urgent symbol first."""

    def __init__(
        self,
        rest: RestClient,
        book: GapBook,
        publisher: Publisher,
        on_closed: Callable[[Gap, GapStatus], None],
        on_rows: Callable[[int], None],
    ) -> None:
        self._rest = rest
        self._book = book
        self._pub = publisher
        self._on_closed = on_closed
        self._on_rows = on_rows
        self._wake = asyncio.Event()
        self._misses: dict[str, int] = {}
        self._failures: dict[str, Backoff] = {}
        self._resting: dict[str, float] = {}  # symbol -> monotonic time it may be tried again

    def wake(self) -> None:
        """Say that new gaps are open."""
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._book.total_open():
                symbol = self._book.next_symbol(self._rested())
                if symbol is None:
                    await self._rest_a_while()
                    continue
                await self._fill(symbol)

    def _rested(self) -> dict[str, float]:
        now = time.monotonic()
        for symbol in [s for s, until in self._resting.items() if until <= now]:
            del self._resting[symbol]
        return self._resting

    async def _rest_a_while(self) -> None:
        """Wait for the first resting symbol, or for a new gap."""
        wait = max(0.0, min(self._resting.values()) - time.monotonic())
        try:
            async with asyncio.timeout(wait):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def _fill(self, symbol: str) -> None:
        gaps = self._book.gaps(symbol)
        from_id = min(g.next_id for g in gaps)
        now = time.time_ns() // 1000
        try:
            ticks = await self._rest.historical_trades(symbol, from_id, now)
        except ExchangeError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                log.warning(
                    "REST refuses %s from id %d (%s); gaps unfillable", symbol, from_id, exc
                )
                await self._give_up(gaps)
            else:
                log.warning(
                    "backfill of %s from id %d failed: %s; will retry", symbol, from_id, exc
                )
                self._rest_symbol(symbol)
            return
        if not ticks:
            misses = self._misses.get(symbol, 0) + 1
            self._misses[symbol] = misses
            if misses >= EMPTY_PAGES_BEFORE_GIVING_UP:
                await self._give_up(gaps)
            else:
                self._rest_symbol(symbol)
            return
        self._misses.pop(symbol, None)
        self._failures.pop(symbol, None)
        plan = plan_page(gaps, from_id, [t.trade_id for t in ticks])
        done_at = time.time_ns() // 1000
        statuses = [GapStatus.UNFILLABLE if g.partial else GapStatus.FILLED for g in plan.done]
        entries: list[Tick | GapRecord] = [ticks[i] for i in plan.take]
        entries += [g.record(st, done_at) for g, st in zip(plan.done, statuses, strict=True)]
        await self._pub.publish(entries)
        self._on_rows(len(plan.take))
        for gap, status in zip(plan.done, statuses, strict=True):
            self._book.close(gap)
            self._on_closed(gap, status)

    def _rest_symbol(self, symbol: str) -> None:
        """Try *symbol* again only after a backoff; the others go on meanwhile."""
        backoff = self._failures.setdefault(symbol, PAGE_RETRY.backoff())
        self._resting[symbol] = time.monotonic() + backoff.next()

    async def _give_up(self, gaps: list[Gap]) -> None:
        now = time.time_ns() // 1000
        await self._pub.publish([g.record(GapStatus.UNFILLABLE, now) for g in gaps])
        for gap in gaps:
            self._book.close(gap)
            self._on_closed(gap, GapStatus.UNFILLABLE)
        self._misses.pop(gaps[0].symbol, None)
        self._failures.pop(gaps[0].symbol, None)
