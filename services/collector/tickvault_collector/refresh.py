"""Keep the tracked symbols in step with the exchange.

Every ``TICKVAULT_COLLECTOR_SYMBOLS_REFRESH_S`` (sooner when the ticker stream shows a symbol
trading that is not captured live: a new listing, or a halted one that trades again; at most
once per ``EARLY_REFRESH_S``) :class:`SymbolRefresh` reads ``exchangeInfo`` (weight 20),
applies it to the :class:`~tickvault_collector.universe.Tracker`, subscribes what started,
unsubscribes what stopped (positions are kept), and writes every status change to the Redis
hash :attr:`tickvault.keys.RedisKeys.symbols` that the API reads. Each round also asks for
a ``ticker/24hr`` check of every tail (``on_round``:
:meth:`~tickvault_collector.gaps.ticker_check.TickerCheck.check_soon`).

An answer that cannot be used keeps the last good list (nothing is unsubscribed on its word);
a partial one takes nothing away. Every outcome is counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from tickvault.errors import ExchangeError, FrameError
from tickvault.redisconn import REDIS_ERRORS, AsyncRedis, describe
from tickvault.symbols import Status, status_value
from tickvault_collector.gaps.resume import resume_points
from tickvault_collector.metrics import Metrics
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings
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


class Capture(Protocol):
    """The capture's side: which symbols are tracked, where each stands."""

    def position(self, symbol: str) -> int | None:
        """Return the highest trade id of *symbol* captured, or None before the first."""

    def track(self, symbols: Iterable[str], *, resume: dict[str, int], after_start: bool) -> None:
        """Start tracking *symbols* (after their resume points where known)."""

    def stopping(self, stopped: Iterable[str], trading: Iterable[str]) -> None:
        """Say which tracked symbols stopped trading and which trade again."""


def shown(names: list[str]) -> str:
    """Return at most a line's worth of *names*, saying how many more there are."""
    head = ", ".join(names[:NAMES_PER_LINE])
    more = len(names) - NAMES_PER_LINE
    return f"{head} and {more} more" if more > 0 else head


class SymbolRefresh:
    """The universe refresh and the status hash of one collector."""

    def __init__(
        self,
        settings: CollectorSettings,
        rest: RestClient,
        redis: AsyncRedis,
        metrics: Metrics,
        tracker: Tracker,
        *,
        capture: Capture,
        on_round: Callable[[], None],
    ) -> None:
        """Refresh *tracker*'s symbols and tell *capture* what changed; *on_round* is called
        at every refresh round."""
        self.tracker = tracker
        self._capture = capture
        self._on_round = on_round
        self._s = settings
        self._keys = settings.redis_keys
        self._rest = rest
        self._redis = redis
        self._metrics = metrics
        self._subs: Subscriptions | None = None
        self._wake = asyncio.Event()
        self._early_at: float | None = None  # monotonic time of an early refresh asked for
        self._last_round = time.monotonic()
        self._seen: dict[str, int] = {}  # latest id the tickers showed of symbols not captured
        self._unusable: set[str] = set()
        self._pending: dict[str, bytes] = {}  # status-hash fields not written yet

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
            await self._write_pending()
            await self._sleep()
            if self._due():
                await self.refresh()

    async def refresh(self) -> None:
        """Read exchangeInfo once and apply it (the last good list stays on failure); then
        ask for the round's ticker/24hr check (``on_round``), after exchangeInfo as ever."""
        self._last_round = time.monotonic()
        self._early_at = None
        try:
            await self._read_and_apply()
        finally:
            self._on_round()

    async def _read_and_apply(self) -> None:
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
        halted = [s for s in changes.new if self.tracker.statuses[s] is not Status.TRADING]
        self._capture.stopping([*changes.stopped, *halted], changes.started)
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
        wanting = [s for s in started if self._capture.position(s) is None]
        resume: dict[str, int] = {}
        if wanting:
            try:
                resume = await resume_points(
                    self._redis, self._keys, tuple(wanting), self._s.database_url
                )
            except REDIS_ERRORS as exc:
                log.warning("resume points of new symbols unavailable (%s)", describe(exc))
        self._capture.track(started, resume=resume, after_start=True)
        if self._subs is not None:
            self._subs.add(started)

    def _report(self, changes: Changes) -> None:
        position = self._capture.position
        back = [s for s in changes.started if position(s) is not None]
        new = [s for s in changes.started if position(s) is None]
        if new:
            log.info("now trading, subscribing from the first trade: %s", shown(new))
        if back:
            log.info("trading again, continuing from the position kept: %s", shown(back))
        for status in sorted({self.tracker.statuses[s] for s in changes.stopped}):
            names = [s for s in changes.stopped if self.tracker.statuses[s] is status]
            log.info("now %s, unsubscribed (position kept): %s", status.value, shown(names))
        if changes.unlisted:
            log.warning("not listed by the exchange: %s", shown(changes.unlisted))

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
