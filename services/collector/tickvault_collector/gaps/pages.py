"""Fetch a symbol's open gaps from ``historicalTrades``, one page at a time.

The one page loop both repairs use: the collector's backfill (gaps it saw in the live
feed, :mod:`~tickvault_collector.gaps.repair`) and the auditor (holes it found in
PostgreSQL). A :class:`PageFetcher` asks REST for the
page starting at the lowest id still wanted, keeps the rows inside open gaps
(:func:`~tickvault_collector.gaps.book.plan_page`) and says which gaps the page completes. The
caller publishes, then :meth:`PageFetcher.settle` closes those gaps in the :class:`GapBook`:
an open gap holds the resume mark below it, so it must stay open until Redis holds its
trades. It gives a gap up when REST refuses it (4xx), keeps answering empty
pages, makes no progress, or keeps failing; transient failures are waited out under
:data:`~tickvault_collector.rest.PAGE_RETRY`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import msgspec

from tickvault.errors import ExchangeError
from tickvault.rest.schedule import Priority
from tickvault.tick import Source, Tick
from tickvault_collector.gaps.book import Gap, GapBook, plan_page
from tickvault_collector.rest import PAGE_RETRY, RestClient

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Page:
    """What one request did to a symbol's open gaps."""

    ticks: list[Tick] = field(default_factory=list)  # rows inside open gaps, to publish
    done: list[Gap] = field(default_factory=list)  # completed (``partial``: REST lacked some)
    given_up: list[Gap] = field(default_factory=list)  # REST cannot serve what is left of them


class PageFetcher:
    """Fetch pages for the open gaps of a :class:`GapBook`."""

    def __init__(
        self,
        rest: RestClient,
        book: GapBook,
        *,
        source: Source,
        empty_pages: int,
        failures: int | None = None,
    ) -> None:
        self._rest = rest
        self._book = book
        self._source = source
        self._priority = Priority.BACKFILL if source is Source.BACKFILL else Priority.AUDIT
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
            refused = exc.status is not None and 400 <= exc.status < 500
            failed = self._failed[symbol] = self._failed.get(symbol, 0) + 1
            if refused or (self._failures is not None and failed >= self._failures):
                log.warning("REST cannot serve %s from id %d (%s)", symbol, from_id, exc)
                return self._give_up(symbol, gaps)
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

    def _give_up(self, symbol: str, gaps: list[Gap]) -> Page:
        self._misses.pop(symbol, None)
        self._failed.pop(symbol, None)
        return Page(given_up=gaps)
