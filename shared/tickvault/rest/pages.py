"""Fetch a symbol's open gaps from ``historicalTrades``, one page at a time.

The one page loop of every repair from REST: the collector's backfill (gaps it saw in the
live feed), the collector's auditor (holes it found in PostgreSQL) and ``tickvault import``
(holes in the archive's files). Each asks at its own :class:`~tickvault.rest.schedule.Priority`
(from the :class:`~tickvault.tick.Source` it stores), within one budget. A
:class:`PageFetcher` asks REST for the page starting at the lowest id still wanted, keeps the
rows inside open gaps (:func:`~tickvault.rest.book.plan_page`) and says which gaps the page
completes. The caller stores or publishes, then :meth:`PageFetcher.settle` closes those gaps
in the :class:`~tickvault.rest.book.GapBook`: for the collector an open gap holds the resume
mark below it, so it must stay open until Redis holds its trades. It gives a gap up when REST
refuses it (4xx), keeps answering empty pages, makes no progress, or keeps failing (the
:attr:`Page.error` says which failure it was); transient failures are waited out under
:data:`~tickvault.rest.client.PAGE_RETRY`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import msgspec

from tickvault.errors import ExchangeError
from tickvault.rest.book import Gap, GapBook, plan_page
from tickvault.rest.client import PAGE_RETRY, ExchangeRest
from tickvault.rest.schedule import Priority
from tickvault.tick import Source, Tick

log = logging.getLogger(__name__)

# Whose repair a page is for, by the source its trades are stored as.
PRIORITIES = {
    Source.BACKFILL: Priority.BACKFILL,
    Source.AUDIT: Priority.AUDIT,
    Source.ARCHIVE: Priority.ARCHIVE,
}


@dataclass(slots=True)
class Page:
    """What one request did to a symbol's open gaps."""

    ticks: list[Tick] = field(default_factory=list)  # rows inside open gaps, to publish
    done: list[Gap] = field(default_factory=list)  # completed (``partial``: REST lacked some)
    given_up: list[Gap] = field(default_factory=list)  # REST cannot serve what is left of them
    error: ExchangeError | None = None  # the failure that gave them up, if one did


class PageFetcher:
    """Fetch pages for the open gaps of a :class:`GapBook`."""

    def __init__(
        self,
        rest: ExchangeRest,
        book: GapBook,
        *,
        source: Source,
        empty_pages: int,
        failures: int | None = None,
    ) -> None:
        self._rest = rest
        self._book = book
        self._source = source
        self._priority = PRIORITIES[source]
        self._empty_pages = empty_pages  # empty answers in a row before giving up
        self._failures = failures  # failed requests in a row before giving up (None: never)
        self._misses: dict[str, int] = {}
        self._failed: dict[str, int] = {}
        self._backoff = PAGE_RETRY.backoff()

    async def page(self, symbol: str) -> Page:
        """Fetch the next page of *symbol*'s open gaps and apply it to the book."""
        gaps = self._book.gaps(symbol)
        if not gaps:
            return Page()
        from_id = min(g.next_id for g in gaps)
        try:
            ticks = await self._rest.historical_trades(
                symbol, from_id, time.time_ns() // 1000, self._priority
            )
        except ExchangeError as exc:
            failed = self._failed[symbol] = self._failed.get(symbol, 0) + 1
            if exc.refused or (self._failures is not None and failed >= self._failures):
                log.warning("REST cannot serve %s from id %d (%s)", symbol, from_id, exc)
                return self._give_up(symbol, gaps, exc)
            log.warning("REST page of %s from id %d failed (%s); will retry", symbol, from_id, exc)
            await asyncio.sleep(self._backoff.next())
            return Page()
        self._failed.pop(symbol, None)
        if not ticks:
            misses = self._misses[symbol] = self._misses.get(symbol, 0) + 1
            if misses >= self._empty_pages:
                return self._give_up(symbol, gaps)
            await asyncio.sleep(self._backoff.next())
            return Page()
        self._misses.pop(symbol, None)
        plan = plan_page(gaps, from_id, [t.trade_id for t in ticks])
        if not plan.take and not plan.done:  # no progress: REST does not serve these ids
            return self._give_up(symbol, gaps)
        self._backoff.reset()
        source = self._source
        taken = [ticks[i] for i in plan.take]
        if source is not Source.BACKFILL:
            taken = [msgspec.structs.replace(t, source=source) for t in taken]
        return Page(taken, plan.done)

    def settle(self, symbol: str, page: Page) -> list[Gap]:
        """Close the gaps *page* completed or gave up, and let the resume mark pass what it
        fetched (once its entries are published); return the gaps closed.

        A completed gap that a stream loss rewound while the page was being published
        (:meth:`GapBook.rewind`: its earlier pages may be gone) stays open, to be fetched
        again.
        """
        self._book.settle(symbol)
        closed = [g for g in page.done if g.next_id > g.last] + page.given_up
        for gap in closed:
            self._book.close(gap)
        return closed

    def _give_up(self, symbol: str, gaps: list[Gap], error: ExchangeError | None = None) -> Page:
        self._misses.pop(symbol, None)
        self._failed.pop(symbol, None)
        return Page(given_up=gaps, error=error)
