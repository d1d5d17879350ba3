"""The collector: frames in, sequenced ticks and gap records out, every task wired together.

:meth:`Collector.on_frame` is the hot path (one call per WebSocket frame): parse, sequence,
queue. Counters on that path are plain integers, copied into Prometheus once a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from tickvault.codec import GapRecord, GapStatus
from tickvault.keys import RedisKeys
from tickvault.throttle import ThrottledLog
from tickvault.tick import Tick
from tickvault_collector.backfill import Backfiller
from tickvault_collector.connection import ShardRunner
from tickvault_collector.frames import ControlReply, Malformed, ServerShutdown, Unknown, parse_frame
from tickvault_collector.gaps import Gap, GapBook
from tickvault_collector.metrics import Metrics
from tickvault_collector.policy import ConnectBudget, shard
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import RestClient
from tickvault_collector.sequencer import DUPLICATE, GAP, Sequencer, cap_gap
from tickvault_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

MALFORMED_LOGS_PER_MINUTE = 5


@dataclass(slots=True)
class Counts:
    """Hot-path counters (plain ints; Prometheus gets the deltas)."""

    frames: int = 0
    trades: int = 0
    malformed: int = 0
    unknown: int = 0
    duplicates: int = 0
    overflow: int = 0
    gaps: int = 0
    filled: int = 0
    unfillable: int = 0
    backfilled: int = 0


class Collector:
    """One collector process's state and tasks."""

    def __init__(
        self,
        settings: CollectorSettings,
        redis: aioredis.Redis,
        rest: RestClient,
        metrics: Metrics,
        *,
        statuses: dict[str, str],
        resume: dict[str, int],
    ) -> None:
        self.settings = settings
        self.keys = RedisKeys(settings.redis_prefix)
        self.metrics = metrics
        self.counts = Counts()
        self._synced = Counts()
        self._redis = redis
        self._statuses = statuses
        self._symbols = frozenset(statuses)
        self.sequencer = Sequencer(resume)
        self.book = GapBook()
        self._overflow: dict[str, list[int]] = {}
        self._high: dict[str, int] = dict(resume)
        self._dirty: set[str] = set()
        self._last_trade: dict[str, float] = {}
        self._last_check: dict[str, float] = {}
        self._malformed_log = ThrottledLog(log, 60.0, burst=MALFORMED_LOGS_PER_MINUTE)
        self.publisher = Publisher.from_settings(settings, redis, metrics, marks=self._marks)
        self.backfiller = Backfiller(rest, self)
        budget = ConnectBudget(
            settings.collector_connect_budget, settings.collector_connect_budget_window_s
        )
        self.runners = [
            ShardRunner(f"conn{i}", group, settings, budget, self)
            for i, group in enumerate(
                shard(list(statuses), settings.collector_streams_per_connection)
            )
        ]

    # ------------------------------------------------------------------ hot path

    def on_frame(self, frame: str | bytes) -> bool:
        """Handle one frame; return True when it announces a server shutdown."""
        counts = self.counts
        counts.frames += 1
        parsed = parse_frame(frame, time.time_ns() // 1000)
        if type(parsed) is Tick:
            symbol = parsed.symbol
            if symbol not in self._symbols:
                counts.unknown += 1
                return False
            verdict = self.sequencer.offer(symbol, parsed.trade_id)
            if verdict is DUPLICATE:
                counts.duplicates += 1
                return False
            if verdict is GAP:
                self.open_gap(symbol, self.sequencer.gap_first, parsed.trade_id - 1)
            self._last_trade[symbol] = time.monotonic()
            if self.publisher.offer(parsed):
                counts.trades += 1
                if symbol in self._overflow:
                    first, last = self._overflow.pop(symbol)
                    self.open_gap(symbol, first, last)
            else:
                self._dropped(symbol, parsed.trade_id)
            return False
        return self._other(parsed)

    def _other(self, parsed: object) -> bool:
        if isinstance(parsed, ServerShutdown):
            return True
        if isinstance(parsed, Malformed):
            self.counts.malformed += 1
            self._malformed_log.warning("malformed frame (%s): %s", parsed.reason, parsed.sample)
        elif isinstance(parsed, Unknown):
            self.counts.unknown += 1
        elif isinstance(parsed, ControlReply) and parsed.error is not None:
            log.warning(
                "exchange answered request %s with an error: %s", parsed.request_id, parsed.error
            )
        return False

    def _dropped(self, symbol: str, trade_id: int) -> None:
        """Remember a tick the full buffer refused, as part of a run to backfill later."""
        self.counts.overflow += 1
        run = self._overflow.get(symbol)
        if run is not None and run[1] + 1 == trade_id:
            run[1] = trade_id
            return
        if run is not None:
            self.open_gap(symbol, run[0], run[1])
        self._overflow[symbol] = [trade_id, trade_id]

    # ------------------------------------------------------------------ gaps

    def open_gap(self, symbol: str, first: int, last: int) -> None:
        """Record ids ``first..last`` of *symbol* as missing and have them backfilled."""
        now = time.time_ns() // 1000
        too_old, wanted = cap_gap(first, last, self.settings.collector_backfill_max_trades)
        if too_old is not None:
            log.warning(
                "%s: ids %d..%d are beyond the backfill cap; recorded unfillable", symbol, *too_old
            )
            self.publisher.put_record(
                GapRecord(symbol, too_old[0], too_old[1], GapStatus.UNFILLABLE, now, now)
            )
            self.counts.unfillable += 1
        if wanted[0] > wanted[1]:
            return
        gap = self.book.open(symbol, wanted[0], wanted[1], now)
        self.publisher.put_record(gap.record(GapStatus.DETECTED))
        self.counts.gaps += 1
        self.backfiller.wake()

    def backfilled(self, rows: int) -> None:
        """Count trades published from REST."""
        self.counts.backfilled += rows

    def gap_closed(self, gap: Gap, status: GapStatus) -> None:
        """Count a gap filled or given up (and log the latter)."""
        if status is GapStatus.FILLED:
            self.counts.filled += 1
        else:
            self.counts.unfillable += 1
            log.warning(
                "%s: ids %d..%d could not all be backfilled", gap.symbol, gap.first, gap.last
            )
        self._dirty.add(gap.symbol)

    def _marks(self, highs: dict[str, int]) -> dict[str, int]:
        """Return the resume mark per symbol: highest id with every id up to it published."""
        for symbol, flushed in highs.items():
            if flushed > self._high.get(symbol, -1):
                self._high[symbol] = flushed
        touched = set(highs) | self._dirty
        self._dirty.clear()
        marks = {}
        for symbol in touched:
            high = self._high.get(symbol)
            if high is None:
                continue
            floor = self.book.first_missing(symbol)
            run = self._overflow.get(symbol)
            if run is not None and (floor is None or run[0] < floor):
                floor = run[0]
            marks[symbol] = high if floor is None else min(high, floor - 1)
        return marks

    # ------------------------------------------------------------------ housekeeping

    # ------------------------------------------------------------------ ShardOwner

    def replaced(self, symbols: tuple[str, ...]) -> None:
        """Ask REST about the tail of symbols whose connection was replaced."""
        self.backfiller.check_tail(symbols)

    def reconnected(self, reason: str) -> None:
        """Count a reconnect by reason."""
        self.metrics.reconnects.labels(reason).inc()

    def congested(self) -> bool:
        """Return whether readers should pause: the publisher is behind."""
        return self.publisher.congested()

    async def drained(self) -> None:
        """Wait until the publisher has caught up."""
        await self.publisher.drained()

    async def watch_quiet(self) -> None:
        """Ask REST about symbols that have been quiet for a while (tail losses)."""
        quiet = self.settings.collector_quiet_backfill_s
        while True:
            await asyncio.sleep(min(1.0, quiet / 4))
            now = time.monotonic()
            due = [
                s
                for s, status in self._statuses.items()
                if status == "TRADING"
                and self.sequencer.last(s) is not None
                and now - self._last_trade.get(s, now) > quiet
                and now - self._last_check.get(s, 0.0) > quiet
            ]
            for symbol in due:
                self._last_check[symbol] = now
            if due:
                self.backfiller.check_tail(due)

    def sync_metrics(self) -> None:
        """Copy the hot-path counters into Prometheus."""
        c, s, m = self.counts, self._synced, self.metrics
        for name, metric in (
            ("frames", m.frames),
            ("trades", m.trades),
            ("malformed", m.malformed),
            ("unknown", m.unknown),
            ("duplicates", m.duplicates),
            ("overflow", m.overflow),
            ("gaps", m.gaps_detected),
            ("filled", m.gaps_filled),
            ("unfillable", m.gaps_unfillable),
            ("backfilled", m.backfilled),
        ):
            delta = getattr(c, name) - getattr(s, name)
            if delta:
                metric.inc(delta)
                setattr(s, name, getattr(c, name))
        m.buffer.set(len(self.publisher))

    def summary(self) -> str:
        """Return the periodic one-line summary."""
        c = self.counts
        return (
            f"frames={c.frames} trades={c.trades} duplicates={c.duplicates} "
            f"malformed={c.malformed} unknown={c.unknown} gaps={c.gaps} filled={c.filled} "
            f"unfillable={c.unfillable} backfilled={c.backfilled} "
            f"open_gaps={self.book.total_open()} "
            f"buffered={len(self.publisher)} overflow={c.overflow}"
        )
