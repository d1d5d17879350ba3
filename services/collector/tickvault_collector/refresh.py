"""Keep the tracked symbols in step with the exchange, and check every tail at once.

Every ``TICKVAULT_COLLECTOR_SYMBOLS_REFRESH_S`` (sooner when the ticker stream shows a symbol
trading that is not captured live: a new listing, or a halted one that trades again; at most
once per ``EARLY_REFRESH_S``) :class:`SymbolRefresh` reads ``exchangeInfo`` (weight 20),
applies it to the :class:`~tickvault_collector.universe.Tracker`, subscribes what started,
unsubscribes what stopped (positions are kept), and writes every status change to the Redis
hash :attr:`tickvault.keys.RedisKeys.symbols` that the API reads. Each round also reads
``ticker/24hr`` (weight 80) for every symbol's latest id, as a check behind the free ticker
stream; the same happens as soon as the ticker stream runs (what traded before it began)
and whenever the ticker connection was replaced.

An answer that cannot be used keeps the last good list (nothing is unsubscribed on its word);
a partial one takes nothing away. Every outcome is counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from tickvault.errors import ExchangeError, FrameError
from tickvault.redisconn import REDIS_ERRORS, describe
from tickvault.symbols import Status, status_value
from tickvault_collector.collector import Collector
from tickvault_collector.resume import resume_points
from tickvault_collector.tickers import TickerRow
from tickvault_collector.universe import Changes, Tracker, Universe

log = logging.getLogger(__name__)

EARLY_REFRESH_S = 30.0  # the soonest a refresh follows the previous one when asked early
RETRY_S = 30.0  # after a failed or unusable answer, ask again this soon
NAMES_PER_LINE = 10


class Subscriptions(Protocol):
    """The connections' side: which symbols' trade streams are subscribed."""

    def add(self, symbols: Iterable[str]) -> None:
        """Subscribe *symbols* (on open connections while they have room)."""

    def remove(self, symbols: Iterable[str]) -> None:
        """Unsubscribe *symbols*."""


def shown(names: list[str]) -> str:
    """Return at most a line's worth of *names*, saying how many more there are."""
    head = ", ".join(names[:NAMES_PER_LINE])
    more = len(names) - NAMES_PER_LINE
    return f"{head} and {more} more" if more > 0 else head


class SymbolRefresh:
    """The universe refresh, the status hash and the REST tail check of one collector."""

    def __init__(self, collector: Collector, tracker: Tracker) -> None:
        """Refresh *tracker*'s symbols for *collector*, with its settings, clients and metrics."""
        self._collector = collector
        self.tracker = tracker
        self._s = collector.settings
        self._rest = collector.rest
        self._redis = collector.redis
        self._metrics = collector.metrics
        self._keys = collector.keys
        self._subs: Subscriptions | None = None
        self._wake = asyncio.Event()
        self._early_at: float | None = None  # monotonic time of an early refresh asked for
        self._tails_wanted = False  # asked for once the ticker stream runs (check_tails_soon)
        self._last_round = time.monotonic()
        self._seen: dict[str, int] = {}  # latest id the tickers showed of symbols not captured
        self._unusable: set[str] = set()
        self._pending: dict[str, bytes] = {}  # status-hash fields not written yet
        collector.notice = self.notice

    def connect(self, subscriptions: Subscriptions) -> None:
        """Say where to (un)subscribe from now on."""
        self._subs = subscriptions

    # ---------------------------------------------------------------- start

    def first(self, universe: Universe) -> Changes:
        """Apply the answer read at start and say loudly what is not there."""
        changes = self.take(universe, at_start=True)
        for name in changes.unlisted:
            log.error(
                "TICKVAULT_SYMBOLS names %s, which the exchange does not list (a typo, or "
                "delisted?): it is not captured; the other symbols are",
                name,
            )
        counts = self.tracker.counts()
        log.info(
            "tracking %d symbols of %d listed: %s",
            len(self.tracker.statuses),
            len(universe.statuses),
            ", ".join(f"{n} {status.value}" for status, n in sorted(counts.items())) or "none",
        )
        return changes

    # ---------------------------------------------------------------- run

    async def run(self) -> None:
        """Refresh until cancelled."""
        while True:
            if self._tails_wanted:
                await self._check_tails()
            await self._write_pending()
            await self._sleep()
            if self._due():
                await self.refresh()

    async def refresh(self) -> None:
        """Read exchangeInfo once and apply it (the last good list stays on failure)."""
        self._last_round = time.monotonic()
        self._early_at = None
        self._tails_wanted = True
        try:
            universe = await self._rest.universe()
        except FrameError as exc:
            self.count("unusable")
            log.warning("exchangeInfo answer unusable (%s); keeping the last list", exc)
            self._retry_soon()
            return
        except ExchangeError as exc:
            self.count("failed")
            log.warning("exchangeInfo unavailable (%s); keeping the last list", exc)
            self._retry_soon()
            return
        changes = self.take(universe, at_start=False)
        await self._start(changes.started)

    def take(self, universe: Universe, *, at_start: bool) -> Changes:
        """Apply *universe*: statuses, subscriptions, metrics and log lines."""
        now_us = time.time_ns() // 1000
        self.count("partial" if universe.partial else "ok")
        bad = universe.bad_entries + len(universe.unusable)
        if bad:
            self._metrics.universe_bad_entries.inc(bad)
        if universe.partial:
            log.warning(
                "exchangeInfo: %d entries unreadable; using the others, taking no symbol away",
                universe.bad_entries,
            )
        fresh = sorted(set(universe.unusable) - self._unusable)
        if fresh:
            self._unusable.update(fresh)
            log.warning(
                "exchangeInfo lists %d names tickvault cannot store, not captured "
                "(listed as UNSUPPORTED in /api/v1/symbols): %s",
                len(fresh),
                shown([f"{n!a} ({universe.unusable[n]})" for n in fresh]),
            )
            for name in fresh:
                if self.tracker.selection.matches(name):
                    field = name.encode(errors="backslashreplace").decode()
                    self._pending[field] = status_value(
                        Status.UNSUPPORTED, now_us, universe.unusable[name]
                    )
        changes = self.tracker.apply(universe, now_us)
        if not at_start:
            self._report(changes)
        for symbol, (status, since) in changes.statuses.items():
            self._pending[symbol] = status_value(status, since)
        self._collector.stopped.update(changes.stopped)
        self._collector.stopped.difference_update(changes.started)
        self._collector.stopped.update(
            s for s in changes.new if self.tracker.statuses[s] is not Status.TRADING
        )
        if changes.stopped and self._subs is not None:
            self._subs.remove(changes.stopped)
        if not at_start:
            self._metrics.status_changes.inc(len(changes.statuses))
        for status, count in self.tracker.counts().items():
            self._metrics.symbols.labels(status.value).set(count)
        return changes

    async def _start(self, started: list[str]) -> None:
        """Track *started* from their positions (or their first id) and subscribe them."""
        if not started:
            return
        wanting = [s for s in started if self._collector.sequencer.last(s) is None]
        resume: dict[str, int] = {}
        if wanting:
            try:
                resume = await resume_points(
                    self._redis, self._keys, tuple(wanting), self._s.database_url
                )
            except REDIS_ERRORS as exc:
                log.warning("resume points of new symbols unavailable (%s)", describe(exc))
        self._collector.track(started, resume=resume, after_start=True)
        if self._subs is not None:
            self._subs.add(started)

    def _report(self, changes: Changes) -> None:
        seq = self._collector.sequencer
        back = [s for s in changes.started if seq.last(s) is not None]
        new = [s for s in changes.started if seq.last(s) is None]
        if new:
            log.info("now trading, subscribing from the first trade: %s", shown(new))
        if back:
            log.info("trading again, continuing from the position kept: %s", shown(back))
        for status in sorted({self.tracker.statuses[s] for s in changes.stopped}):
            names = [s for s in changes.stopped if self.tracker.statuses[s] is status]
            log.info("now %s, unsubscribed (position kept): %s", status.value, shown(names))
        if changes.unlisted:
            log.warning("not listed by the exchange: %s", shown(changes.unlisted))

    # ---------------------------------------------------------------- tails

    def check_tails_soon(self) -> None:
        """Read ticker/24hr at the next occasion (the ticker stream missed some seconds)."""
        self._tails_wanted = True
        self._wake.set()

    async def _check_tails(self) -> None:
        self._tails_wanted = False
        try:
            tickers = await self._rest.tickers()
        except (ExchangeError, FrameError) as exc:
            log.warning("ticker/24hr unavailable (%s); the ticker stream still checks", exc)
            self._collector.counts.ticker_bad += 1
            return
        self._collector.take_tickers(tickers, time.time_ns() // 1000)

    # ---------------------------------------------------------------- early refresh

    def notice(self, row: TickerRow) -> None:
        """See a ticker row of a symbol not captured live (untracked, or tracked and stopped);
        refresh early when it shows trades not seen before and the selection wants it."""
        symbol = row.symbol
        seen = self._seen.get(symbol)
        if seen is not None and row.last_id <= seen:
            return
        self._seen[symbol] = row.last_id
        if self._early_at is None and self.tracker.wants(symbol):
            self._early_at = self._last_round + EARLY_REFRESH_S
            self._wake.set()

    def _due(self) -> bool:
        now = time.monotonic()
        if self._early_at is not None and now >= self._early_at:
            return True
        return now - self._last_round >= self._s.collector_symbols_refresh_s

    def _retry_soon(self) -> None:
        self._early_at = time.monotonic() + min(RETRY_S, self._s.collector_symbols_refresh_s)

    async def _sleep(self) -> None:
        now = time.monotonic()
        until = self._last_round + self._s.collector_symbols_refresh_s
        if self._early_at is not None:
            until = min(until, self._early_at)
        wait = max(0.0, until - now)
        if self._pending:
            wait = min(wait, 5.0)
        self._wake.clear()
        try:
            async with asyncio.timeout(wait):
                await self._wake.wait()
        except TimeoutError:
            pass

    def count(self, outcome: str) -> None:
        """Count one exchangeInfo read by *outcome* (ok, partial, unusable, failed)."""
        self._metrics.universe_refreshes.labels(outcome).inc()

    async def _write_pending(self) -> None:
        """Write the status changes not yet in Redis (kept for the next try on failure)."""
        if not self._pending:
            return
        batch: dict[Any, bytes] = dict(self._pending)
        try:
            await self._redis.hset(self._keys.symbols, mapping=batch)
        except REDIS_ERRORS as exc:
            log.warning("symbol statuses not written (%s); retrying", describe(exc))
            return
        for symbol, value in batch.items():
            if self._pending.get(symbol) == value:
                del self._pending[symbol]
