"""The all-market rolling-window ticker streams ``!ticker_1h@arr``, ``!ticker_4h@arr`` and
``!ticker_1d@arr``: one array a second, with only the symbols whose ticker changed.

A ticker changes when its symbol trades, or when its window slides past a minute in which it
traded (its oldest trades leave the window). One task serves the whole market, and it builds
a window's array only while someone is subscribed to it. ``!ticker@arr`` (24 h, retired by
Binance on 2026-03-26) is not served: like any unknown stream it is acked and stays silent.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from tickvault_replay.listings import Listings
from tickvault_replay.market import Market
from tickvault_replay.tickers import WINDOWS_MS, stream_entry, window_open

log = logging.getLogger(__name__)

STREAMS = {f"!ticker_{kind}@arr": kind for kind in WINDOWS_MS}
PERIOD_S = 1.0


class TickerFeed:
    """Pushes each subscribed ``!ticker_<w>@arr`` stream once a second."""

    def __init__(self, market: Market, listings: Listings) -> None:
        self.market = market
        self.listings = listings
        self._opens = dict.fromkeys(STREAMS, 0)

    async def run(self) -> None:
        """Push every second until cancelled."""
        while True:
            await asyncio.sleep(PERIOD_S)
            try:
                self.push()
            except Exception:  # one bad push must not end the stream for good
                log.exception("the ticker push failed")

    def push(self) -> None:
        """Send one array per subscribed window stream (nothing when nothing changed)."""
        market = self.market
        changed = market.store.take_changed()
        now_ms = market.clock_us() // 1000
        for stream, kind in STREAMS.items():
            opens = window_open(now_ms, WINDOWS_MS[kind])
            before, self._opens[stream] = self._opens[stream], opens
            slid = market.store.traded_in(before, opens) if 0 < before < opens else set()
            if not market.subscribers(stream):
                continue
            entries = []
            for symbol in sorted(changed | slid):
                if self.listings.get(symbol) is None:
                    continue
                window = market.store.ensure(symbol).bars.window(opens)
                if window is not None:
                    entries.append(stream_entry(kind, symbol, window, (opens, now_ms), now_ms))
            if entries:
                market.publish(stream, msgspec.json.encode(entries))
