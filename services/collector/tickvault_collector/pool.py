"""The connections of one collector: trade streams spread over as few as Binance allows, and
the all-market ticker stream on a connection of its own.

:class:`Connections` places each symbol's trade stream on an open connection with room
(``STREAMS_PER_CONNECTION``, at most 1,024) and opens a new connection only when all are
full; a stopped symbol is unsubscribed from its connection, whose room the next symbol takes.
Connection attempts of every connection share one budget (300 per 5 minutes per IP on
Binance). Each trade connection's feed clock goes to the tail checks of its symbols.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from tickvault_collector.connection import ConnectionRunner, LinkOwner
from tickvault_collector.frames import ControlReply, ServerShutdown
from tickvault_collector.gaps import FeedClock
from tickvault_collector.metrics import Metrics
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.tickers import TICKER_STREAM
from tickvault_collector.ws_limits import ConnectBudget, place, trade_stream

log = logging.getLogger(__name__)

# The ticker connection opens after the trade connections (a recording replay starts its
# clock at the first subscription, which must be a trade stream's), but never later than this.
TICKER_AFTER_S = 10.0


class Feeds(LinkOwner, Protocol):
    """What the connections report to (the collector): trade frames, ticker frames."""

    def on_tickers(
        self, frame: str | bytes, clock: FeedClock
    ) -> ServerShutdown | ControlReply | None:
        """Handle one frame of the ticker connection."""


class _TickerOwner:
    """The ticker connection's owner: rows go to the tail checks, a replacement asks REST
    for what the stream missed; the rest is the collector's."""

    def __init__(self, collector: Feeds, on_replaced: Callable[[], None]) -> None:
        self.on_frame = collector.on_tickers
        self.reconnected = collector.reconnected
        self.subscribed = collector.subscribed
        self.congested = collector.congested
        self.drained = collector.drained
        self._on_replaced = on_replaced

    def replaced(self, runner: ConnectionRunner) -> None:
        """Read ticker/24hr: the stream missed what changed while it was down."""
        self._on_replaced()


class Connections:
    """Every trade connection and the ticker connection of one collector."""

    def __init__(
        self,
        settings: CollectorSettings,
        collector: Feeds,
        clocks: dict[str, FeedClock],
        metrics: Metrics,
        *,
        on_ticker_replaced: Callable[[], None],
    ) -> None:
        """Open connections whose frames go to *collector*; each trade connection's feed
        clock goes into *clocks* under the symbols it carries (the tail checks read it)."""
        self._s = settings
        self._collector = collector
        self._clocks = clocks
        self._metrics = metrics
        self._budget = ConnectBudget(
            settings.collector_connect_budget, settings.collector_connect_budget_window_s
        )
        self._on_ticker_ready = on_ticker_replaced
        self.ticker = ConnectionRunner(
            "ticker",
            [TICKER_STREAM],
            settings,
            self._budget,
            _TickerOwner(collector, on_ticker_replaced),
        )
        self.runners: list[ConnectionRunner] = []
        self._where: dict[str, ConnectionRunner] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False

    def __len__(self) -> int:
        return len(self.runners) + 1

    def add(self, symbols: Iterable[str]) -> None:
        """Subscribe *symbols*' trade streams, on open connections while they have room."""
        names = {trade_stream(s): s for s in dict.fromkeys(symbols) if s not in self._where}
        wanted = list(names)
        if not wanted:
            return
        per = self._s.collector_streams_per_connection
        rooms = [per - len(r.streams) for r in self.runners]
        existing, new = place(wanted, rooms, per)
        for runner, streams in zip(self.runners, existing, strict=True):
            if streams:
                runner.subscribe(streams)
                self._register(runner, [names[s] for s in streams])
        for streams in new:
            runner = ConnectionRunner(
                f"conn{len(self.runners)}", streams, self._s, self._budget, self._collector
            )
            self.runners.append(runner)
            self._register(runner, [names[s] for s in streams])
            if self._running:
                self._start(runner)
        self._metrics.connections.set(len(self))

    def remove(self, symbols: Iterable[str]) -> None:
        """Unsubscribe *symbols*' trade streams."""
        for symbol in symbols:
            runner = self._where.pop(symbol, None)
            if runner is not None:
                runner.unsubscribe([trade_stream(symbol)])
                self._clocks.pop(symbol, None)

    async def run(self) -> None:
        """Run every connection until cancelled; the ticker's once the trade connections
        have subscribed (or after ``TICKER_AFTER_S``)."""
        self._running = True
        for runner in self.runners:
            self._start(runner)
        try:
            if self.runners:
                waits = [asyncio.ensure_future(r.first_ready.wait()) for r in self.runners]
                await asyncio.wait(waits, timeout=TICKER_AFTER_S)
                for wait in waits:
                    wait.cancel()
            self._start(self.ticker)
            await self.ticker.first_ready.wait()
            self._on_ticker_ready()  # what traded before the stream began: ask REST once
            await asyncio.Event().wait()
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)

    def _register(self, runner: ConnectionRunner, symbols: list[str]) -> None:
        clocks = self._clocks
        for symbol in symbols:
            self._where[symbol] = runner
            clocks[symbol] = runner.clock

    def _start(self, runner: ConnectionRunner) -> None:
        task = asyncio.create_task(runner.run(), name=runner.name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("connection %s failed", task.get_name(), exc_info=task.exception())
