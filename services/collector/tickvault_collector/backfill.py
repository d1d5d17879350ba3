"""Fill gaps from REST and check the tail: the collector's only REST consumer at run time.

Two kinds of work arrive: open gaps (in the :class:`~tickvault_collector.gaps.GapBook`) and
tail checks (a symbol whose connection was replaced, or that has been quiet: ask for its
latest trade id, since a loss at the end of a burst shows no jump until the next trade).
One ``historicalTrades`` page serves every gap of a symbol it covers
(:class:`~tickvault_collector.refill.Refiller`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from tickvault.codec import GapRecord, GapStatus
from tickvault.errors import ExchangeError
from tickvault.tick import Source, Tick
from tickvault_collector.gaps import Gap, GapBook
from tickvault_collector.publisher import Publisher
from tickvault_collector.refill import Refiller
from tickvault_collector.rest import RestClient
from tickvault_collector.sequencer import Sequencer

log = logging.getLogger(__name__)

EMPTY_PAGES_BEFORE_GIVING_UP = 5


class GapOwner(Protocol):
    """The open gaps, the sequence and the publisher a backfiller works for (the collector)."""

    book: GapBook
    sequencer: Sequencer
    publisher: Publisher

    def open_gap(self, symbol: str, first: int, last: int) -> None:
        """Record ids ``first..last`` of *symbol* as missing."""

    def gap_closed(self, gap: Gap, status: GapStatus) -> None:
        """Count a gap filled or given up."""

    def backfilled(self, rows: int) -> None:
        """Count trades published from REST."""


class Backfiller:
    """Drain open gaps and pending tail checks, one REST page at a time."""

    def __init__(self, rest: RestClient, owner: GapOwner) -> None:
        self._rest = rest
        self._owner = owner
        self._tail: set[str] = set()
        self._wake = asyncio.Event()
        self._refill = Refiller(
            rest, owner.book, source=Source.BACKFILL, empty_pages=EMPTY_PAGES_BEFORE_GIVING_UP
        )

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
            book = self._owner.book
            while self._tail or book.symbols():
                while self._tail:
                    await self._check(self._tail.pop())
                for symbol in book.symbols():
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
        skipped = self._owner.sequencer.advance_to(symbol, latest)
        if skipped is not None:
            self._owner.open_gap(symbol, *skipped)

    async def _fill(self, symbol: str) -> None:
        page = await self._refill.page(symbol)
        closed = [(g, GapStatus.UNFILLABLE if g.partial else GapStatus.FILLED) for g in page.done]
        closed += [(g, GapStatus.UNFILLABLE) for g in page.given_up]
        if not (page.ticks or closed):
            return
        done_at = time.time_ns() // 1000
        entries: list[Tick | GapRecord] = list(page.ticks)
        entries += [gap.record(status, done_at) for gap, status in closed]
        await self._owner.publisher.publish(entries)
        self._refill.settle(page)
        self._owner.backfilled(len(page.ticks))
        for gap, status in closed:
            self._owner.gap_closed(gap, status)
