"""The ticker checks: every symbol's latest trade id against what was captured.

Rows come from the free ``!ticker_1h@arr`` stream (every second, on its own connection) and
from ``/api/v3/ticker/24hr`` (weight 80, every symbol at once), read at start, after every
universe refresh and whenever the ticker connection was replaced
(:meth:`TickerCheck.check_soon`). Each row of a tracked symbol goes to the tail checks
(:class:`~tickvault_collector.gaps.tails.Tails`); once a second :meth:`TickerCheck.watch`
opens what they found as ``tail`` gaps, and the runs a full buffer dropped. A row of a
symbol not captured live (untracked, or tracked and stopped) goes to :attr:`notice` (the
universe refresh asks the exchange early when it shows a wanted symbol trading).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from tickvault.codec import GapReason
from tickvault.errors import ExchangeError, FrameError
from tickvault.throttle import ThrottledLog
from tickvault_collector.gaps.live import LiveGaps
from tickvault_collector.tickers import TickerRow, Tickers

log = logging.getLogger(__name__)

TAILS_SHOWN = 5  # symbols named per tail-check log line


class TickerSource(Protocol):
    """Where the whole market's tickers are read (the REST client)."""

    async def tickers(self) -> Tickers:
        """Read ``/api/v3/ticker/24hr`` for every symbol."""
        ...


class Buffer(Protocol):
    """The publisher's buffer, as the watch sees it."""

    capacity: int

    def __len__(self) -> int:
        """Return the entries waiting."""
        ...

    def congested(self) -> bool:
        """Return whether readers are paused for it (frames wait in the sockets)."""
        ...


class TickerCheck:
    """Compare ticker rows with capture; open the tails they show as gaps."""

    def __init__(
        self,
        live: LiveGaps,
        source: TickerSource,
        buffer: Buffer,
    ) -> None:
        """Check the tracked symbols of *live*; read REST tickers from *source*. Nothing is
        due while readers wait for the *buffer*; dropped runs open once it has room."""
        self._live = live
        self._counts = live.counts
        self._source = source
        self._buffer = buffer
        self.stopped: set[str] = set()  # tracked, not trading: unsubscribed, position kept
        # sees ticker rows of symbols not captured live (untracked, or tracked and stopped)
        self.notice: Callable[[TickerRow], None] = lambda row: None
        self._log = ThrottledLog(log, 60.0)
        self._wanted = asyncio.Event()

    def take(self, tickers: Tickers, now_us: int) -> None:
        """Compare each row of a ticker answer (stream or REST) with what was captured."""
        counts = self._counts
        counts.ticker_rows += len(tickers.rows)
        if tickers.bad:
            counts.ticker_bad += tickers.bad
            self._log.warning(
                "%d ticker rows unreadable or of names tickvault cannot store (%s); "
                "the other rows are used",
                tickers.bad,
                ", ".join(tickers.bad_names[:5]) or "no name",
            )
        tracked, stopped, observe = self._live.tracked, self.stopped, self._live.tails.observe
        for row in tickers.rows:
            if row.symbol not in tracked:
                self.notice(row)
                continue
            if row.symbol in stopped:
                self.notice(row)
            missed = observe(row, now_us)
            if missed is not None:
                self._live.open(row.symbol, *missed, GapReason.TAIL)

    async def watch(self) -> None:
        """Turn what the tail checks find, and the runs a full buffer dropped, into gaps,
        once a second."""
        live = self._live
        while True:
            await asyncio.sleep(1.0)
            buffer = self._buffer
            if live.overflow and len(buffer) < buffer.capacity:
                live.close_overflow()
            now = time.time_ns() // 1000
            due = live.tails.due(now, hold=buffer.congested())
            if not due:
                continue
            self._counts.tail_gaps += len(due)
            log.info(
                "%d symbols behind the ticker, their tails go to backfill: %s%s",
                len(due),
                ", ".join(f"{s} {a}..{b}" for s, a, b in due[:TAILS_SHOWN]),
                f" and {len(due) - TAILS_SHOWN} more" if len(due) > TAILS_SHOWN else "",
            )
            for symbol, first, last in due:
                live.open(symbol, first, last, GapReason.TAIL)

    def check_soon(self) -> None:
        """Read ticker/24hr at the next occasion (the ticker stream missed some seconds)."""
        self._wanted.set()

    async def run(self) -> None:
        """Read ticker/24hr whenever asked (:meth:`check_soon`), until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                tickers = await self._source.tickers()
            except (ExchangeError, FrameError) as exc:
                log.warning("ticker/24hr unavailable (%s); the ticker stream still checks", exc)
                self._counts.ticker_bad += 1
                continue
            self.take(tickers, time.time_ns() // 1000)
