"""Fill gaps from REST and check the tail: the collector's only REST consumer at run time.

Two kinds of work arrive: open gaps (in the :class:`~tickvault_collector.gaps.GapBook`) and
tail checks (a symbol whose connection was replaced, or that has been quiet: ask for its
latest trade id, since a loss at the end of a burst shows no jump until the next trade).
One ``historicalTrades`` page serves every gap of a symbol it covers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tickvault.codec import GapRecord, GapStatus
from tickvault.errors import ExchangeError
from tickvault.tick import Tick
from tickvault_collector.gaps import Gap, GapBook, plan_page
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import PAGE_RETRY, RestClient
from tickvault_collector.sequencer import Sequencer

log = logging.getLogger(__name__)

EMPTY_PAGES_BEFORE_GIVING_UP = 5


class Backfiller:
    """Drain open gaps and pending tail checks, one REST page at a time."""

    def __init__(
        self,
        rest: RestClient,
        book: GapBook,
        sequencer: Sequencer,
        publisher: Publisher,
        open_gap: Callable[[str, int, int], None],
        on_closed: Callable[[Gap, GapStatus], None],
        on_rows: Callable[[int], None],
    ) -> None:
        self._rest = rest
        self._book = book
        self._seq = sequencer
        self._pub = publisher
        self._open_gap = open_gap
        self._on_closed = on_closed
        self._on_rows = on_rows
        self._tail: set[str] = set()
        self._wake = asyncio.Event()
        self._misses: dict[str, int] = {}
        self._backoff = PAGE_RETRY.backoff()

    def wake(self) -> None:
        """Say that new gaps are open."""
        self._wake.set()

    def check_tail(self, symbols: tuple[str, ...] | list[str]) -> None:
        """Queue a latest-trade-id check for *symbols*."""
        self._tail.update(symbols)
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._tail or self._book.symbols():
                while self._tail:
                    await self._check(self._tail.pop())
                for symbol in self._book.symbols():
                    await self._fill(symbol)
                    while self._tail:
                        await self._check(self._tail.pop())

    async def _check(self, symbol: str) -> None:
        try:
            latest = await self._rest.latest_trade_id(symbol)
        except ExchangeError as exc:
            log.warning("latest trade id of %s unavailable: %s", symbol, exc)
            return
        if latest is None:
            return
        skipped = self._seq.advance_to(symbol, latest)
        if skipped is not None:
            self._open_gap(symbol, *skipped)

    async def _fill(self, symbol: str) -> None:
        gaps = self._book.gaps(symbol)
        if not gaps:
            return
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
                await asyncio.sleep(self._backoff.next())
            return
        if not ticks:
            misses = self._misses.get(symbol, 0) + 1
            self._misses[symbol] = misses
            if misses >= EMPTY_PAGES_BEFORE_GIVING_UP:
                await self._give_up(gaps)
            else:
                await asyncio.sleep(self._backoff.next())
            return
        self._misses.pop(symbol, None)
        self._backoff.reset()
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

    async def _give_up(self, gaps: list[Gap]) -> None:
        now = time.time_ns() // 1000
        await self._pub.publish([g.record(GapStatus.UNFILLABLE, now) for g in gaps])
        for gap in gaps:
            self._book.close(gap)
            self._on_closed(gap, GapStatus.UNFILLABLE)
        self._misses.pop(gaps[0].symbol, None)
