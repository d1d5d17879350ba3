"""The range's bounds, over REST ``historicalTrades``.

Every request goes through the shared :class:`~tickvault.rest.client.ExchangeRest` (the
collector's client: the same weight share, 429/418 held for ``Retry-After``, 5xx retried) at
the :attr:`~tickvault.rest.schedule.Priority.ARCHIVE` priority.

:meth:`RestTrades.first_at` finds the id of the first trade at or after an instant: starting
from a hint (an id the files held), it doubles its steps until the instant is bracketed, then
halves the bracket; each probe is one page of 1,000 trades, so a good hint costs one or two.
The holes themselves are repaired by the page loop every repair shares,
:class:`~tickvault.rest.pages.PageFetcher` (see :mod:`.importer`).
"""

from __future__ import annotations

import time

from tickvault.errors import ExchangeError
from tickvault.rest.client import PAGE, ExchangeRest
from tickvault.rest.schedule import Priority
from tickvault.tick import Tick

INVALID_SYMBOL = -1121


class RestTrades:
    """One symbol's trades over REST: probes by id, and the pages of a hole."""

    def __init__(self, rest: ExchangeRest, symbol: str) -> None:
        self._rest = rest
        self.symbol = symbol
        self.calls = 0

    async def page(self, from_id: int) -> list[Tick]:
        """Return up to 1,000 trades from *from_id* on ([] past the latest trade)."""
        self.calls += 1
        return await self._rest.historical_trades(
            self.symbol, max(0, from_id), time.time_ns() // 1000, Priority.ARCHIVE
        )

    async def opening(self) -> tuple[bool, Tick | None]:
        """Return whether REST serves this symbol (a delisted one answers -1121) and its very
        first trade (None before it has one): the day it was listed."""
        try:
            rows = await self.page(0)
        except ExchangeError as exc:
            if exc.code == INVALID_SYMBOL:
                return False, None
            raise
        return True, rows[0] if rows else None

    async def first_at(self, time_us: int, hint: int) -> int:
        """Return the id of the first trade at or after *time_us* (the next id to come when
        none is yet)."""
        low, high = -1, None  # low's trade is before time_us; the answer is at most high
        step, at = PAGE, max(0, hint)
        while True:
            rows = await self.page(at)
            hit = next((t.trade_id for t in rows if t.trade_time >= time_us), None)
            if hit is not None and rows[0].trade_id < hit:
                return hit  # the boundary is inside this page
            if hit is not None or not rows:
                top = hit if hit is not None else at
                high = top if high is None else min(high, top)
                if at <= low + 1:
                    return high  # nothing lies between low and high on REST
            else:
                low = max(low, rows[-1].trade_id)
                if len(rows) < PAGE:
                    return low + 1  # the latest trade is before time_us
            if high is not None and high <= low + 1:
                return high
            if high is None:
                at = low + 1 + step  # gallop up
            elif low < 0:
                at = max(0, high - step)  # gallop down
            elif high - low <= PAGE:
                at = low + 1  # one page covers the bracket
            else:
                at = (low + high) // 2
            step *= 2
