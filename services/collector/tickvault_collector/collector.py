"""The collector: frames in, sequenced ticks and gap records out, every task wired together.

:meth:`Collector.on_frame` is the hot path (one call per WebSocket frame): parse, sequence,
queue. Counters on that path are plain integers, copied into Prometheus once a second.
:meth:`Collector.on_tickers` takes the all-market ticker stream (once a second) and hands
each row to the tail checks (:mod:`tickvault_collector.tails`); :meth:`Collector.watch_tails`
turns what they find into gaps. Per-symbol state is a few integers (sequencer, resume mark);
nothing runs per symbol per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields

from tickvault.backlog import Appended, Ledger
from tickvault.codec import GapReason, GapRecord, GapStatus
from tickvault.errors import FrameError
from tickvault.heartbeat import CollectorBeat
from tickvault.keys import ShardKeys
from tickvault.redisconn import AsyncRedis
from tickvault.rest.schedule import Priority
from tickvault.throttle import ThrottledLog
from tickvault.tick import Tick
from tickvault_collector.backfill import Backfiller
from tickvault_collector.frames import ControlReply, Malformed, ServerShutdown, Unknown, parse_frame
from tickvault_collector.gaps import Gap, GapBook
from tickvault_collector.metrics import Metrics
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import RestClient
from tickvault_collector.resume import OpenGap, open_gaps
from tickvault_collector.sequencer import DUPLICATE, GAP, Sequencer, cap_gap
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.tails import FeedClock, Tails
from tickvault_collector.tickers import TickerRow, Tickers, parse_stream_tickers

log = logging.getLogger(__name__)

Special = ServerShutdown | ControlReply | None  # what a connection must act on itself

MALFORMED_LOGS_PER_MINUTE = 5
TAILS_SHOWN = 5  # symbols named per tail-check log line
TAIL_PATIENCE_S = 60.0  # a symbol behind the ticker this long is a gap, however busy the feed


@dataclass(slots=True)
class Counts:
    """Hot-path counters (plain ints): each one's deltas go to the Metrics counter of its name."""

    frames: int = 0
    trades: int = 0
    malformed: int = 0
    unknown: int = 0
    duplicates: int = 0
    overflow: int = 0
    gaps_detected: int = 0
    gaps_filled: int = 0
    gaps_unfillable: int = 0
    backfilled: int = 0
    ticker_rows: int = 0
    ticker_bad: int = 0
    tail_gaps: int = 0
    stream_losses: int = 0


_COUNT_NAMES = tuple(f.name for f in fields(Counts))


class Collector:
    """One collector process's state and tasks."""

    def __init__(
        self,
        settings: CollectorSettings,
        redis: AsyncRedis,
        rest: RestClient,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.redis = redis  # the collector's parts (symbol refresh, audit) use its clients
        self.rest = rest
        self.keys = settings.redis_keys
        self.metrics = metrics
        self.counts = Counts()
        self._synced = Counts()
        self.tracked: set[str] = set()
        self.stopped: set[str] = set()  # tracked, not trading: unsubscribed, position kept
        self.sequencer = Sequencer()
        self.book = GapBook()
        self.tails = Tails(
            self.sequencer, grace_s=settings.collector_tail_grace_s, patience_s=TAIL_PATIENCE_S
        )
        self._overflow: dict[str, list[int]] = {}
        self._high: dict[str, int] = {}
        self._mark: dict[str, int] = {}  # the resume mark per symbol, as last computed
        self._dirty: set[str] = set()
        self._resumed: set[str] = set()  # started from a resume point, no trade seen yet
        self._holds: dict[str, int] = {}  # lost ids whose gaps are being opened: mark floor
        self.ledgers: dict[int, Ledger] = {}  # per stream shard: marks every group acked
        self.reasons: dict[GapReason, int] = dict.fromkeys(GapReason, 0)
        self._synced_reasons = dict(self.reasons)
        self._tasks: set[asyncio.Task[None]] = set()
        self._malformed_log = ThrottledLog(log, 60.0, burst=MALFORMED_LOGS_PER_MINUTE)
        self._ticker_log = ThrottledLog(log, 60.0)
        # sees ticker rows of symbols not captured live (untracked, or tracked and stopped)
        self.notice: Callable[[TickerRow], None] = lambda row: None
        self.publisher = Publisher.from_settings(
            settings, redis, metrics, marks=self._marks, appended=self.appended
        )
        self._weights = dict.fromkeys(Priority, 0)
        self.backfiller = Backfiller(rest, self)

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
            verdict = self.sequencer.offer(symbol, parsed.trade_id)
            if verdict is DUPLICATE:
                counts.duplicates += 1
                return None
            if verdict is GAP:
                reason = GapReason.RECONNECT if symbol in self._resumed else GapReason.WS_GAP
                self.open_gap(symbol, self.sequencer.gap_first, parsed.trade_id - 1, reason)
            if self._resumed:
                self._resumed.discard(symbol)
            if self.publisher.offer(parsed):
                counts.trades += 1
                if symbol in self._overflow:
                    first, last = self._overflow.pop(symbol)
                    self.open_gap(symbol, first, last, GapReason.BUFFER_OVERFLOW)
            else:
                self._dropped(symbol, parsed.trade_id)
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
        self.take_tickers(tickers, now)
        return None

    def take_tickers(self, tickers: Tickers, now_us: int) -> None:
        """Compare each row of a ticker answer (stream or REST) with what was captured."""
        counts = self.counts
        counts.ticker_rows += len(tickers.rows)
        if tickers.bad:
            counts.ticker_bad += tickers.bad
            self._ticker_log.warning(
                "%d ticker rows unreadable or of names tickvault cannot store (%s); "
                "the other rows are used",
                tickers.bad,
                ", ".join(tickers.bad_names[:5]) or "no name",
            )
        tracked, stopped, observe = self.tracked, self.stopped, self.tails.observe
        for row in tickers.rows:
            if row.symbol not in tracked:
                self.notice(row)
                continue
            if row.symbol in stopped:
                self.notice(row)
            missed = observe(row, now_us)
            if missed is not None:
                self.open_gap(row.symbol, *missed, GapReason.TAIL)

    async def watch_tails(self) -> None:
        """Turn what the tail checks find, and the runs a full buffer dropped, into gaps,
        once a second."""
        while True:
            await asyncio.sleep(1.0)
            self.close_overflow()
            now = time.time_ns() // 1000
            due = self.tails.due(now, hold=self.publisher.congested())
            if not due:
                continue
            self.counts.tail_gaps += len(due)
            log.info(
                "%d symbols behind the ticker, their tails go to backfill: %s%s",
                len(due),
                ", ".join(f"{s} {a}..{b}" for s, a, b in due[:TAILS_SHOWN]),
                f" and {len(due) - TAILS_SHOWN} more" if len(due) > TAILS_SHOWN else "",
            )
            for symbol, first, last in due:
                self.open_gap(symbol, first, last, GapReason.TAIL)

    def track(self, symbols: Iterable[str], *, resume: dict[str, int], after_start: bool) -> None:
        """Start tracking *symbols* (resume points where known); a symbol tracked after start
        without one starts at its first id (the tickers say which)."""
        for symbol in symbols:
            self.tracked.add(symbol)
            mark = resume.get(symbol)
            if mark is not None and self.sequencer.start(symbol, mark):
                self._high.setdefault(symbol, mark)
                self._resumed.add(symbol)
                self.ledger(symbol).start(symbol, mark)
            elif after_start:
                self.tails.await_first(symbol)

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

    def _dropped(self, symbol: str, trade_id: int) -> None:
        """Remember a tick the full buffer refused, as part of a run to backfill later."""
        self.counts.overflow += 1
        run = self._overflow.get(symbol)
        if run is not None and run[1] + 1 == trade_id:
            run[1] = trade_id
            return
        if run is not None:
            self.open_gap(symbol, run[0], run[1], GapReason.BUFFER_OVERFLOW)
        self._overflow[symbol] = [trade_id, trade_id]

    def close_overflow(self) -> None:
        """Open the runs of ticks a full buffer dropped as gaps once it has room again (a
        symbol's next accepted tick does so too; a symbol that went quiet needs this)."""
        if not self._overflow or len(self.publisher) >= self.publisher.capacity:
            return
        runs, self._overflow = self._overflow, {}
        for symbol, (first, last) in runs.items():
            self.open_gap(symbol, first, last, GapReason.BUFFER_OVERFLOW)

    # ------------------------------------------------------------------ gaps

    def open_gap(
        self, symbol: str, first: int, last: int, reason: GapReason = GapReason.WS_GAP
    ) -> None:
        """Record ids ``first..last`` of *symbol* as missing for *reason* and have them
        backfilled (the parts not already open)."""
        now = time.time_ns() // 1000
        too_old, wanted = cap_gap(first, last, self.settings.collector_backfill_max_trades)
        if too_old is not None:
            log.warning(
                "%s: ids %d..%d are beyond the backfill cap; recorded unfillable", symbol, *too_old
            )
            self.publisher.put_record(
                GapRecord(
                    symbol, too_old[0], too_old[1], GapStatus.UNFILLABLE, now, now, reason=reason
                )
            )
            self.counts.gaps_unfillable += 1
            self.reasons[reason] += 1
        if wanted[0] > wanted[1]:
            return
        for a, b in self.book.uncovered(symbol, *wanted):
            gap = self.book.open(symbol, a, b, now, reason)
            self.publisher.put_record(gap.record(GapStatus.DETECTED))
            self.counts.gaps_detected += 1
            self.reasons[reason] += 1
        self.backfiller.wake()

    def reopen(self, gaps: list[OpenGap]) -> None:
        """Take gaps PostgreSQL holds open into the book, as they were recorded (their
        ``filled`` record then closes the same row)."""
        opened = 0
        for symbol, first, last, reason, detected in gaps:
            if symbol not in self.tracked or self.book.uncovered(symbol, first, last) != [
                (first, last)
            ]:
                continue
            self.book.open(symbol, first, last, detected, reason)
            self._dirty.add(symbol)
            opened += 1
        if opened:
            log.info("%d gaps PostgreSQL holds open go to backfill", opened)
            self.backfiller.wake()

    # ------------------------------------------------------------------ stream loss

    def ledger(self, symbol: str) -> Ledger:
        """Return the ledger of the stream shard *symbol* belongs to."""
        index = self.publisher.shard(symbol).index
        ledger = self.ledgers.get(index)
        if ledger is None:
            ledger = self.ledgers[index] = Ledger()
        return ledger

    def appended(self, shard: ShardKeys, reply: Appended) -> None:
        """Act on one append's report: confirm marks every group acknowledged, and when the
        shard lost entries, open ``stream_lost`` (or ``claim_deleted``) gaps for every id
        published since the last confirmed mark."""
        ledger = self.ledgers.get(shard.index)
        if ledger is None:
            ledger = self.ledgers[shard.index] = Ledger()
        if reply.damaged:
            self._lost(shard, ledger, reply)
        else:
            ledger.acknowledged(reply.safe)
        if reply.last_id:
            ledger.appended(reply.last_id, self._mark)

    def _lost(self, shard: ShardKeys, ledger: Ledger, reply: Appended) -> None:
        reason = GapReason.STREAM_LOST if reply.gone else GapReason.CLAIM_DELETED
        self.counts.stream_losses += 1
        known = {*self._high, *self.book.symbols()}
        symbols = sorted(s for s in known if self.publisher.shard(s).index == shard.index)
        ranges = []
        for symbol in symbols:
            high = self._high.get(symbol, -1)
            floor = ledger.confirmed(symbol)
            if floor is None:
                first = self.sequencer.first(symbol)
                floor = high if first is None else first - 1
            self.book.rewind(symbol, floor)  # backfilled pages above it may be gone too
            for gap in self.book.gaps(symbol):  # and the records that opened the gaps
                self.publisher.put_record(gap.record(GapStatus.DETECTED))
            if high > floor:
                ranges.append((symbol, floor + 1, high))
                held = self._holds.get(symbol)
                self._holds[symbol] = floor + 1 if held is None else min(held, floor + 1)
                self._dirty.add(symbol)
        # Until the task below has opened the gaps, the resume marks stay below the lost ids.
        log.warning(
            "Redis lost entries of %s (%s): %d symbols refilled from their last stored id",
            shard.stream,
            "appended entries gone" if reply.gone else f"{reply.lost_entries} deleted pending",
            len(ranges),
        )
        ledger.lost()
        self.backfiller.wake()  # rewound gaps want their pages again
        task = asyncio.get_running_loop().create_task(self._refill_lost(symbols, ranges, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refill_lost(
        self, symbols: list[str], ranges: list[tuple[str, int, int]], reason: GapReason
    ) -> None:
        """Reopen what PostgreSQL holds open (its closing records may be among the lost),
        then open the ranges published since the last confirmed marks."""
        try:
            stored = await open_gaps(self.settings.database_url, symbols)
            if stored:
                self.reopen(stored)
            for symbol, first, last in ranges:
                self.open_gap(symbol, first, last, reason)
        finally:
            for symbol, _, _ in ranges:  # the open gaps hold the marks from now on
                self._holds.pop(symbol, None)
                self._dirty.add(symbol)

    def backfilled(self, rows: int) -> None:
        """Count trades published from REST."""
        self.counts.backfilled += rows

    def gap_closed(self, gap: Gap, status: GapStatus) -> None:
        """Count a gap filled or given up (and log the latter)."""
        if status is GapStatus.FILLED:
            self.counts.gaps_filled += 1
        else:
            self.counts.gaps_unfillable += 1
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
            held = self._holds.get(symbol)
            if held is not None and (floor is None or held < floor):
                floor = held
            run = self._overflow.get(symbol)
            if run is not None and (floor is None or run[0] < floor):
                floor = run[0]
            marks[symbol] = high if floor is None else min(high, floor - 1)
        self._mark.update(marks)
        return marks

    # ------------------------------------------------------------------ housekeeping

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

    def sync_metrics(self) -> None:
        """Copy the hot-path counters into Prometheus."""
        c, s, m = self.counts, self._synced, self.metrics
        for name in _COUNT_NAMES:
            delta = getattr(c, name) - getattr(s, name)
            if delta:
                getattr(m, name).inc(delta)
                setattr(s, name, getattr(c, name))
        for reason, count in self.reasons.items():
            if count != self._synced_reasons[reason]:
                m.gaps_by_reason.labels(reason.value).inc(count - self._synced_reasons[reason])
                self._synced_reasons[reason] = count
        m.buffer.set(len(self.publisher))
        m.stream_backlog.set(self.publisher.backlog)
        m.stream_full.set(int(self.publisher.full))
        for use, spent in self.rest.scheduler.spent.items():
            if spent != self._weights[use]:
                m.rest_weight.labels(use.name.lower()).inc(spent - self._weights[use])
                self._weights[use] = spent
        calls, oldest = self.book.backlog(time.time_ns() // 1000)
        m.repair_calls.set(calls)
        m.repair_oldest.set(oldest)
        m.tails_behind.set(len(self.tails))

    def beat(self) -> CollectorBeat:
        """Return the heartbeat: trades published, symbols tracked, the repair backlog."""
        now = time.time_ns() // 1000
        calls, oldest = self.book.backlog(now)
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
            f"open_gaps={self.book.total_open()} "
            f"buffered={len(self.publisher)} overflow={c.overflow}"
        )
