"""The gap auditor: find trade ids missing from PostgreSQL and refill them from REST.

The collector only knows the gaps it saw; trades can also vanish after it published them
(Redis restarted with entries unread, a stream trimmed under a stalled writer). The auditor
looks at what ``trades`` actually holds: per symbol and per hourly partition, a window
``lead(trade_id)`` finds the holes between stored ids, and partitions are stitched at their
edges. Holes, the stored tail up to the exchange's latest id, and every ``trade_gaps`` range
not yet ``filled`` are refilled from ``historicalTrades`` through the collector's own paced
REST client and published to the stream (``source=audit``) with gap records
(``found_by=auditor``), so the writer stores them exactly once like any other entry.
One auditor runs at a time (the ``audit_lease`` key, renewed while the audit runs: a lease
that cannot be kept stops the audit, so two audits never overlap).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from tickvault.codec import GapFinder, GapReason, GapRecord, GapStatus
from tickvault.db.engine import make_engine
from tickvault.db.partitions import TRADES, existing_partitions
from tickvault.errors import ExchangeError, FrameError, TickvaultError
from tickvault.keys import RedisKeys
from tickvault.lease import AsyncLease
from tickvault.redisconn import AsyncRedis
from tickvault.rest.book import GapBook
from tickvault.rest.pages import PageFetcher
from tickvault.rest.schedule import Priority
from tickvault.tick import Source, datetime_to_us
from tickvault_collector.gaps.audit_plan import (
    IdRange,
    holes_between,
    merge,
    plan_symbol,
    record_outcome,
    stitch,
)
from tickvault_collector.gaps.stored import StoredGap, read_open
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import RestClient

log = logging.getLogger(__name__)

FAILED_PAGES_BEFORE_GIVING_UP = 5
LEASE_S = 60.0  # renewed every third of it while an audit runs; a dead auditor frees it soon
STATEMENT_TIMEOUT_MS = 60_000  # one symbol-hour query; bounds how long a stop waits for a scan

_HOLES = text(
    "SELECT trade_id, nxt FROM (SELECT trade_id, lead(trade_id) OVER (ORDER BY trade_id) AS nxt"
    " FROM trades WHERE symbol = :s AND trade_time >= :lo AND trade_time < :hi) AS x"
    " WHERE nxt > trade_id + 1"
)
_SPAN = text(
    "SELECT min(trade_id), max(trade_id), count(*) FROM trades"
    " WHERE symbol = :s AND trade_time >= :lo AND trade_time < :hi"
)


@dataclass(frozen=True, slots=True)
class Scan:
    """What PostgreSQL holds of one symbol."""

    rows: int
    span: IdRange | None
    holes: list[IdRange]
    records: list[StoredGap]


Window = tuple[datetime, datetime]  # trade times audited: [from, to)


class AuditStopped(TickvaultError):
    """The audit was asked to stop between two scan queries."""


@dataclass(frozen=True, slots=True)
class SymbolReport:
    """What one audit pass found and did for one symbol (built once the pass is done)."""

    rows: int  # trades stored in the audited window
    holes: int
    missing: int  # trade ids in the holes
    refilled: int  # trades fetched from REST and published
    unfillable: list[IdRange]  # id ranges REST could not give
    records_closed: int  # open gap records this pass closed as filled


def scan_symbol(
    engine: Engine, symbol: str, window: Window | None = None, stop: threading.Event | None = None
) -> Scan:
    """Scan *symbol*'s ``trades`` partitions (those in *window*, else all) for holes; read its
    open gap records (those detected in *window*). Raise AuditStopped once *stop* is set."""
    pairs: list[tuple[int, int]] = []
    spans: list[IdRange] = []
    rows = 0
    with engine.connect() as conn:
        for start in sorted(existing_partitions(conn, TRADES).values()):
            lo, hi = start, start + timedelta(hours=1)
            if window is not None:
                lo, hi = max(lo, window[0]), min(hi, window[1])
                if lo >= hi:
                    continue
            if stop is not None and stop.is_set():
                raise AuditStopped(symbol)
            bounds = {"s": symbol, "lo": lo, "hi": hi}
            low, high, count = conn.execute(_SPAN, bounds).one()
            if not count:
                continue
            rows += int(count)
            spans.append((int(low), int(high)))
            pairs += [(int(a), int(b)) for a, b in conn.execute(_HOLES, bounds)]
        records = read_open(conn, [symbol])
    if window is not None:
        lo_us, hi_us = _us(window[0]), _us(window[1])
        records = [r for r in records if lo_us <= r.detected_at < hi_us]
    span = (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
    return Scan(rows, span, merge(holes_between(pairs) + stitch(spans)), records)


def _us(value: datetime) -> int:
    return datetime_to_us(value)


@dataclass(eq=False)
class Auditor:
    """One audit pass over every configured symbol (the tail too, unless *tail* is False)."""

    symbols: Callable[[], Sequence[str]]  # asked at each pass: the tracked set changes
    database_url: str
    rest: RestClient
    publisher: Publisher
    _: KW_ONLY
    tail: bool = True
    _stop: threading.Event = field(default_factory=threading.Event, init=False)

    async def run_once(self, window: Window | None = None) -> dict[str, SymbolReport]:
        """Audit every symbol (trade times in *window*, else all); return what was done.

        Database work runs in a thread; a cancelled audit tells that thread to stop at its
        next query, so it never outlives the collector by more than one query.
        """
        self._stop.clear()
        engine = make_engine(
            self.database_url,
            application_name="tickvault-auditor",
            connect_args={"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
        )
        try:
            latest = await self._latest() if self.tail else {}
            return {s: await self._audit(engine, s, window, latest.get(s)) for s in self.symbols()}
        finally:
            self._stop.set()
            engine.dispose()

    async def _audit(
        self, engine: Engine, symbol: str, window: Window | None, latest: int | None
    ) -> SymbolReport:
        scan = await asyncio.to_thread(scan_symbol, engine, symbol, window, self._stop)
        plan = plan_symbol(scan.holes, scan.span, scan.records, latest)
        now = _now_us()
        await self.publisher.publish(
            [
                GapRecord(
                    symbol, a, b, GapStatus.DETECTED, now, None, GapFinder.AUDITOR, GapReason.AUDIT
                )
                for a, b in plan.holes
            ]
        )
        refilled, unfillable = await self._refill(symbol, plan.fetch)
        done = _now_us()
        closing = [
            GapRecord(
                symbol,
                a,
                b,
                _status(not _touches((a, b), unfillable)),
                now,
                done,
                GapFinder.AUDITOR,
                GapReason.AUDIT,
            )
            for a, b in plan.holes
        ]
        closed = 0
        for record in scan.records:
            outcome = record_outcome(record, scan.span, plan.fetch, unfillable)
            if outcome is None or (not outcome and record.status == GapStatus.UNFILLABLE):
                continue
            closing.append(record.record(_status(outcome), done))
            closed += int(outcome)
        await self.publisher.publish(closing)
        missing = sum(b - a + 1 for a, b in plan.holes)
        return SymbolReport(scan.rows, len(plan.holes), missing, refilled, unfillable, closed)

    async def _latest(self) -> dict[str, int]:
        """Return every trading symbol's latest id from one ticker/24hr (weight 80)."""
        try:
            tickers = await self.rest.tickers(Priority.AUDIT)
        except (ExchangeError, FrameError) as exc:
            log.warning("latest trade ids unavailable (%s); tails not audited", exc)
            return {}
        return {row.symbol: row.last_id for row in tickers.rows if row.last_id >= 0}

    async def _refill(self, symbol: str, fetch: list[IdRange]) -> tuple[int, list[IdRange]]:
        """Fetch *fetch* from REST page by page and publish the rows; return (rows, lost)."""
        book = GapBook()
        for first, last in fetch:
            book.open(symbol, first, last, 0)
        pages = PageFetcher(
            self.rest,
            book,
            source=Source.AUDIT,
            empty_pages=1,
            failures=FAILED_PAGES_BEFORE_GIVING_UP,
        )
        refilled = 0
        lost: list[IdRange] = []
        while book.gaps(symbol):
            page = await pages.page(symbol)
            if page.ticks:
                await self.publisher.publish(page.ticks)
            pages.settle(symbol, page)
            refilled += len(page.ticks)
            lost += [(g.first, g.last) for g in page.done if g.partial]
            lost += [(g.next_id, g.last) for g in page.given_up]
        return refilled, merge(lost)


def _status(ok: bool) -> GapStatus:
    return GapStatus.FILLED if ok else GapStatus.UNFILLABLE


def _touches(r: IdRange, ranges: list[IdRange]) -> bool:
    return any(a <= r[1] and r[0] <= b for a, b in ranges)


def _now_us() -> int:
    return time.time_ns() // 1000


def audit_lease(redis: AsyncRedis, keys: RedisKeys) -> AsyncLease:
    """Return the ``audit_lease``: one auditor at a time, renewed while its audit runs."""
    return AsyncLease(redis, keys.audit_lease, LEASE_S)
