"""Repair the live capture's gaps from REST: the collector's backfill, most urgent first.

Gaps arrive in the :class:`~tickvault.rest.book.GapBook` from the sequencer (a jump
in ids), the tail checks and the buffer (:class:`~tickvault_collector.gaps.live.LiveGaps`).
The :class:`Repairer` asks the book which symbol to repair next (the oldest gap, then the
busiest symbol) and fetches one ``historicalTrades`` page for it
(:class:`~tickvault.rest.pages.PageFetcher`), which serves every gap of that symbol
it covers. Its requests go first in the REST scheduler. A symbol whose page brought nothing
(a failure, an empty answer) rests for a while, so it never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Protocol

from tickvault.codec import GapRecord, GapStatus
from tickvault.rest.book import Gap
from tickvault.rest.pages import PageFetcher
from tickvault.retry import Backoff
from tickvault.tick import Source, Tick
from tickvault_collector.gaps.live import LiveGaps
from tickvault_collector.rest import PAGE_RETRY, RestClient

log = logging.getLogger(__name__)

EMPTY_PAGES_BEFORE_GIVING_UP = 5


class Publishing(Protocol):
    """Where repaired trades go (the collector's publisher)."""

    async def publish(self, entries: Iterable[Tick | GapRecord]) -> None:
        """Queue *entries* and wait until Redis holds them all."""


class Repairer:
    """Drain open gaps one REST page at a time, the most urgent symbol first."""

    def __init__(self, rest: RestClient, live: LiveGaps, publisher: Publishing) -> None:
        """Repair *live*'s open gaps whenever it opens some, fetching from *rest* and
        publishing with *publisher*."""
        self._book = live.book
        self._opened = live.opened
        self._marks = live.marks
        self._counts = live.counts
        self._publisher = publisher
        self._pages = PageFetcher(
            rest, live.book, source=Source.BACKFILL, empty_pages=EMPTY_PAGES_BEFORE_GIVING_UP
        )
        self._failures: dict[str, Backoff] = {}
        self._resting: dict[str, float] = {}  # symbol -> monotonic time it may be tried again

    async def run(self) -> None:
        """Work until cancelled."""
        book = self._book
        while True:
            await self._opened.wait()
            self._opened.clear()
            while book.total_open():
                symbol = book.next_symbol(self._rested())
                if symbol is None:
                    await self._rest_a_while()
                elif not await self.fill(symbol):
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
                await self._opened.wait()
        except TimeoutError:
            pass
        self._opened.clear()

    async def fill(self, symbol: str) -> bool:
        """Fetch one page for *symbol* and publish it; return whether it got anywhere."""
        page = await self._pages.page(symbol)
        closed = [(g, GapStatus.UNFILLABLE if g.partial else GapStatus.FILLED) for g in page.done]
        closed += [(g, GapStatus.UNFILLABLE) for g in page.given_up]
        if not (page.ticks or closed):
            return False
        done_at = time.time_ns() // 1000
        entries: list[Tick | GapRecord] = list(page.ticks)
        entries += [gap.record(status, done_at) for gap, status in closed]
        await self._publisher.publish(entries)
        settled = self._pages.settle(symbol, page)
        self._counts.backfilled += len(page.ticks)
        for gap, status in closed:
            if any(gap is g for g in settled):
                self._close(gap, status)
        return True

    def _close(self, gap: Gap, status: GapStatus) -> None:
        """Count a gap filled or given up (and log the latter)."""
        if status is GapStatus.FILLED:
            self._counts.gaps_filled += 1
        else:
            self._counts.gaps_unfillable += 1
            log.warning(
                "%s: ids %d..%d could not all be backfilled", gap.symbol, gap.first, gap.last
            )
        self._marks.touch(gap.symbol)  # its mark may pass the gap now
