"""Fill the live capture's gaps from REST: the collector's backfill, most urgent first.

Gaps arrive in the :class:`~tickvault_collector.gaps.book.GapBook` from the sequencer (a jump in
ids), the tail checks (:mod:`tickvault_collector.gaps.tails`) and the buffer. The backfiller asks
the book which symbol to repair next (the oldest gap, then the busiest symbol) and fetches one
``historicalTrades`` page for it (:class:`~tickvault_collector.gaps.pages.Refiller`), which serves
every gap of that symbol it covers. Its requests go first in the REST scheduler. A symbol
whose page brought nothing (a failure, an empty answer) rests for a while, so it never holds
up the others.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from tickvault.codec import GapRecord, GapStatus
from tickvault.retry import Backoff
from tickvault.tick import Source, Tick
from tickvault_collector.gaps.book import Gap, GapBook
from tickvault_collector.gaps.pages import Refiller
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import PAGE_RETRY, RestClient

EMPTY_PAGES_BEFORE_GIVING_UP = 5


class GapOwner(Protocol):
    """The open gaps and the publisher a backfiller works for (the collector)."""

    book: GapBook
    publisher: Publisher

    def gap_closed(self, gap: Gap, status: GapStatus) -> None:
        """Count a gap filled or given up."""

    def backfilled(self, rows: int) -> None:
        """Count trades published from REST."""


class Backfiller:
    """Drain open gaps one REST page at a time, the most urgent symbol first."""

    def __init__(self, rest: RestClient, owner: GapOwner) -> None:
        self._owner = owner
        self._wake = asyncio.Event()
        self._refill = Refiller(
            rest, owner.book, source=Source.BACKFILL, empty_pages=EMPTY_PAGES_BEFORE_GIVING_UP
        )
        self._failures: dict[str, Backoff] = {}
        self._resting: dict[str, float] = {}  # symbol -> monotonic time it may be tried again

    def wake(self) -> None:
        """Say that new gaps are open."""
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled."""
        book = self._owner.book
        while True:
            await self._wake.wait()
            self._wake.clear()
            while book.total_open():
                symbol = book.next_symbol(self._rested())
                if symbol is None:
                    await self._rest_a_while()
                elif not await self._fill(symbol):
                    backoff = self._failures.setdefault(symbol, PAGE_RETRY.backoff())
                    self._resting[symbol] = time.monotonic() + backoff.next()
                else:
                    self._failures.pop(symbol, None)

    def _rested(self) -> dict[str, float]:
        now = time.monotonic()
        for symbol in [s for s, until in self._resting.items() if until <= now]:
            del self._resting[symbol]
        return self._resting

    async def _rest_a_while(self) -> None:
        """Wait for the first resting symbol's turn, or for a new gap."""
        wait = max(0.0, min(self._resting.values()) - time.monotonic())
        try:
            async with asyncio.timeout(wait):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def _fill(self, symbol: str) -> bool:
        """Fetch one page for *symbol*; return whether it got anywhere."""
        page = await self._refill.page(symbol)
        closed = [(g, GapStatus.UNFILLABLE if g.partial else GapStatus.FILLED) for g in page.done]
        closed += [(g, GapStatus.UNFILLABLE) for g in page.given_up]
        if not (page.ticks or closed):
            return False
        done_at = time.time_ns() // 1000
        entries: list[Tick | GapRecord] = list(page.ticks)
        entries += [gap.record(status, done_at) for gap, status in closed]
        await self._owner.publisher.publish(entries)
        settled = self._refill.settle(symbol, page)
        self._owner.backfilled(len(page.ticks))
        for gap, status in closed:
            if any(gap is g for g in settled):
                self._owner.gap_closed(gap, status)
        return True
