"""The collector: frames in, sequenced ticks out, and its parts wired together.

:meth:`Collector.on_frame` is the hot path (one call per WebSocket frame): parse, sequence,
queue. Counters on that path are plain integers (:class:`~tickvault_collector.metrics.Counts`),
copied into Prometheus once a second. Everything about missing trades — opening gaps,
repairing them, the tail and ticker checks, stream-loss recovery, resume marks — is the
:mod:`tickvault_collector.gaps` package's; this module builds its parts and hands them frames.
Per-symbol state is a few integers (sequencer, resume mark); nothing runs per symbol per second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from tickvault.codec import GapRecord
from tickvault.errors import FrameError
from tickvault.heartbeat import CollectorBeat
from tickvault.redisconn import AsyncRedis
from tickvault.rest.schedule import Priority
from tickvault.throttle import ThrottledLog
from tickvault.tick import Tick
from tickvault_collector.frames import ControlReply, Malformed, ServerShutdown, Unknown, parse_frame
from tickvault_collector.gaps import (
    DUPLICATE,
    GAP,
    FeedClock,
    LiveGaps,
    Repairer,
    StreamLoss,
    TickerCheck,
    collector_gaps,
)
from tickvault_collector.metrics import COUNT_NAMES, Counts, Metrics
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.tickers import parse_stream_tickers

log = logging.getLogger(__name__)

Special = ServerShutdown | ControlReply | None  # what a connection must act on itself

MALFORMED_LOGS_PER_MINUTE = 5


class Collector:
    """One collector process's hot path, and the parts it feeds."""

    def __init__(
        self,
        settings: CollectorSettings,
        redis: AsyncRedis,
        rest: RestClient,
        metrics: Metrics,
    ) -> None:
        """Publish into the stream on *redis*; *rest* serves the backfill and the ticker
        checks; *metrics* receive the counts once a second (:meth:`sync_metrics`)."""
        self.settings = settings
        self.rest = rest
        self.metrics = metrics
        self.counts = counts = Counts()
        self._synced = Counts()
        self.tracked: set[str] = set()
        self._malformed_log = ThrottledLog(log, 60.0, burst=MALFORMED_LOGS_PER_MINUTE)
        self.gaps = gaps = LiveGaps(
            self.tracked,
            counts,
            self._put_record,
            backfill_cap=settings.collector_backfill_max_trades,
            tail_grace_s=settings.collector_tail_grace_s,
        )
        self.stream_loss = loss = StreamLoss(
            gaps,
            shard_of=settings.redis_keys.shard_of,
            read_stored=lambda symbols: collector_gaps(settings.database_url, symbols),
        )
        self.publisher = publisher = Publisher.from_settings(
            settings, redis, metrics, marks=gaps.marks.compute, appended=loss.appended
        )
        self.repairer = Repairer(rest, gaps, publisher)
        self.tickers = TickerCheck(gaps, rest, publisher)
        self._sequence = gaps.sequencer.offer
        self._overflow = gaps.overflow  # read on every trade: a dict, never rebound
        self._reasons = dict(gaps.reasons)
        self._weights = dict.fromkeys(Priority, 0)

    # ------------------------------------------------------------------ hot path

    def on_frame(self, frame: str | bytes, clock: FeedClock) -> Special:
        """Handle one frame of a trade connection whose feed *clock* it moves; return it
        parsed when the connection must act on it (a shutdown, a control reply)."""
        counts = self.counts
        counts.frames += 1
        received = time.time_ns() // 1000
        parsed = parse_frame(frame, received)
        if type(parsed) is Tick:
            symbol = parsed.symbol
            if symbol not in self.tracked:
                counts.unknown += 1
                return None
            clock.event_us = parsed.event_time
            clock.received_us = received
            verdict = self._sequence(symbol, parsed.trade_id)
            if verdict is DUPLICATE:
                counts.duplicates += 1
                return None
            if verdict is GAP:
                self.gaps.jumped(symbol, parsed.trade_id)
            if self.publisher.offer(parsed):
                counts.trades += 1
                if symbol in self._overflow:
                    self.gaps.taken(symbol)
            else:
                self.gaps.dropped(symbol, parsed.trade_id)
            return None
        return self._other(parsed)

    def on_tickers(self, frame: str | bytes, clock: FeedClock) -> Special:
        """Handle one frame of the ticker connection (like :meth:`on_frame`)."""
        self.counts.frames += 1
        now = time.time_ns() // 1000
        try:
            tickers = parse_stream_tickers(frame)
        except FrameError:
            return self._other(parse_frame(frame, now))
        clock.received_us = now
        self.tickers.take(tickers, now)
        return None

    def _other(self, parsed: object) -> Special:
        if isinstance(parsed, ServerShutdown):
            return parsed
        if isinstance(parsed, Malformed):
            self.counts.malformed += 1
            self._malformed_log.warning("malformed frame (%s): %s", parsed.reason, parsed.sample)
        elif isinstance(parsed, Unknown):
            self.counts.unknown += 1
        elif isinstance(parsed, ControlReply) and parsed.error is not None:
            log.warning(
                "exchange answered request %s with an error: %s", parsed.request_id, parsed.error
            )
        if isinstance(parsed, ControlReply):
            return parsed
        return None

    # ------------------------------------------------------------------ wiring

    def _put_record(self, record: GapRecord) -> None:
        self.publisher.put_record(record)  # the gaps are built before the publisher

    # ------------------------------------------------------------------ Capture

    def position(self, symbol: str) -> int | None:
        """Return the highest trade id of *symbol* captured, or None before the first."""
        return self.gaps.sequencer.last(symbol)

    def track(self, symbols: Iterable[str], *, resume: dict[str, int], after_start: bool) -> None:
        """Start tracking *symbols* (resume points where known); a symbol tracked after start
        without one starts at its first id (the tickers say which)."""
        for symbol in symbols:
            self.tracked.add(symbol)
            mark = resume.get(symbol)
            if mark is not None and self.gaps.resume(symbol, mark):
                self.stream_loss.resumed(symbol, mark)
            elif after_start:
                self.gaps.tails.await_first(symbol)

    def stopping(self, stopped: Iterable[str], trading: Iterable[str]) -> None:
        """Say which tracked symbols stopped trading (unsubscribed, position kept) and which
        trade again."""
        self.tickers.stopped.update(stopped)
        self.tickers.stopped.difference_update(trading)

    # ------------------------------------------------------------------ LinkOwner

    def replaced(self, runner: object) -> None:
        """Nothing to ask REST: the tickers show what a replaced connection missed."""

    def reconnected(self, reason: str) -> None:
        """Count a reconnect by reason."""
        self.metrics.reconnects.labels(reason).inc()

    def subscribed(self, method: str) -> None:
        """Count one SUBSCRIBE or UNSUBSCRIBE message sent."""
        self.metrics.subscription_messages.labels(method).inc()

    def congested(self) -> bool:
        """Return whether readers should pause: the publisher is behind."""
        return self.publisher.congested()

    async def drained(self) -> None:
        """Wait until the publisher has caught up."""
        await self.publisher.drained()

    # ------------------------------------------------------------------ upkeep

    def sync_metrics(self) -> None:
        """Copy the hot-path counters into Prometheus."""
        c, s, m = self.counts, self._synced, self.metrics
        for name in COUNT_NAMES:
            delta = getattr(c, name) - getattr(s, name)
            if delta:
                getattr(m, name).inc(delta)
                setattr(s, name, getattr(c, name))
        for reason, count in self.gaps.reasons.items():
            if count != self._reasons[reason]:
                m.gaps_by_reason.labels(reason.value).inc(count - self._reasons[reason])
                self._reasons[reason] = count
        m.buffer.set(len(self.publisher))
        m.stream_backlog.set(self.publisher.backlog)
        m.stream_full.set(int(self.publisher.full))
        for use, spent in self.rest.scheduler.spent.items():
            if spent != self._weights[use]:
                m.rest_weight.labels(use.name.lower()).inc(spent - self._weights[use])
                self._weights[use] = spent
        calls, oldest = self.gaps.book.backlog(time.time_ns() // 1000)
        m.repair_calls.set(calls)
        m.repair_oldest.set(oldest)
        m.tails_behind.set(len(self.gaps.tails))

    def beat(self) -> CollectorBeat:
        """Return the heartbeat: trades published, symbols tracked, the repair backlog."""
        now = time.time_ns() // 1000
        calls, oldest = self.gaps.book.backlog(now)
        return CollectorBeat(
            now, self.publisher.published, len(self.tracked), calls, round(oldest, 1)
        )

    def summary(self) -> str:
        """Return the periodic one-line summary."""
        c = self.counts
        return (
            f"frames={c.frames} trades={c.trades} duplicates={c.duplicates} "
            f"malformed={c.malformed} unknown={c.unknown} gaps={c.gaps_detected} "
            f"filled={c.gaps_filled} unfillable={c.gaps_unfillable} backfilled={c.backfilled} "
            f"open_gaps={self.gaps.book.total_open()} "
            f"buffered={len(self.publisher)} overflow={c.overflow}"
        )
