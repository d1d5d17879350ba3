"""The running collector's scheduled gap audit (``TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S``).

Every interval, one collector of many (the ``audit_lease`` key, held for the rest of the
interval after a run) audits the trades of the look-back window with the same
:class:`~tickvault_collector.gaps.audit.Auditor` as ``--audit-once``, minus the tail, which the
live collector checks itself. It leaves alone what the writers may simply not have stored yet:
only trade times older than ``SETTLE_S`` are audited, and a run is postponed while the writer
group has not acknowledged a stream entry older than ``WRITERS_BEHIND_S`` (or one this
collector's last audit published): refilled or backfilled trades waiting there are old.
Database work runs in a thread; the frame path never waits for an audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from redis.exceptions import ResponseError
from sqlalchemy.exc import SQLAlchemyError

from tickvault.errors import LeaseLost
from tickvault.keys import WRITER_GROUP, RedisKeys
from tickvault.redisconn import REDIS_ERRORS, AsyncRedis, describe
from tickvault_collector.gaps.audit import Auditor, AuditStopped, SymbolReport, audit_lease
from tickvault_collector.metrics import Metrics
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

SETTLE_S = 60.0  # trades younger than this may still be on their way to PostgreSQL
WRITERS_BEHIND_S = 10.0  # postpone while an entry this old waits for the writers
LOOKBACK_CAP_HOURS = 48  # the default look-back: the retention, at most this
FIRST_RUN_AFTER_S = 60.0  # the first run comes this long after start (or one interval)


def lookback_hours(settings: CollectorSettings) -> int:
    """Return the hours of trades each scheduled audit looks at."""
    if settings.collector_audit_lookback_hours:
        return settings.collector_audit_lookback_hours
    retention = settings.retention_hours
    return min(retention, LOOKBACK_CAP_HOURS) if retention else LOOKBACK_CAP_HOURS


def entry_time(entry_id: object) -> float:
    """Return the epoch seconds a stream entry id (``<ms>-<seq>``) was assigned at."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(raw.split("-", 1)[0]) / 1000


async def oldest_unstored(redis: AsyncRedis, keys: RedisKeys) -> float | None:
    """Return when the oldest entry the writers have not acknowledged, on any stream shard,
    was published (epoch seconds, Redis clock), or None when they have acknowledged every
    entry."""
    times = [await _oldest_unstored(redis, shard.stream) for shard in keys.all_shards()]
    return min((t for t in times if t is not None), default=None)


async def _oldest_unstored(redis: AsyncRedis, stream: str) -> float | None:
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet
        return None
    group = next((g for g in groups if g["name"] in (WRITER_GROUP, WRITER_GROUP.encode())), None)
    if group is None:  # no writer has read yet: everything is unstored
        first = await redis.xrange(stream, count=1)
        return entry_time(first[0][0]) if first else None
    times: list[float] = []
    pending = await redis.xpending(stream, WRITER_GROUP)
    if pending["pending"]:
        times.append(entry_time(pending["min"]))
    last = group["last-delivered-id"]
    last = last if isinstance(last, bytes) else str(last).encode()
    undelivered = await redis.xrange(stream, min=b"(" + last, count=1)
    if undelivered:
        times.append(entry_time(undelivered[0][0]))
    return min(times) if times else None


class Outcome(enum.StrEnum):
    """How a scheduled audit ended (the ``outcome`` label of ``audit_runs``)."""

    DONE = "done"
    LEASE_HELD = "lease_held"  # another collector audits this interval
    LEASE_LOST = "lease_lost"  # the lease could not be kept: the audit was stopped
    WRITERS_BEHIND = "writers_behind"  # postponed: the writers have old entries to store
    REDIS_UNREACHABLE = "redis_unreachable"
    DB_UNREACHABLE = "db_unreachable"
    STOPPED = "stopped"  # the collector is stopping
    FAILED = "failed"  # a bug: logged with its traceback


class ScheduledAudit:
    """Run the gap audit every interval while the collector runs."""

    def __init__(
        self,
        settings: CollectorSettings,
        symbols: Callable[[], Sequence[str]],
        *,
        redis: AsyncRedis,
        rest: RestClient,
        metrics: Metrics,
    ) -> None:
        """Audit *symbols* (asked at each run: the tracked set changes), publishing with a
        publisher of its own and paced by the collector's *rest* client."""
        self._interval = settings.collector_audit_interval_s
        self._hours = lookback_hours(settings)
        self._redis = redis
        self._metrics = metrics
        self._keys = settings.redis_keys
        self._pub = Publisher.from_settings(
            settings, redis, metrics, producer=f"{settings.collector_instance}-audit"
        )
        self._auditor = Auditor(symbols, settings.database_url, rest, self._pub, tail=False)
        self._lease = audit_lease(redis, self._keys)
        self._published_until = 0.0  # Redis time our last audit's entries were all published

    async def run(self) -> None:
        """Audit every interval until cancelled."""
        flusher = asyncio.create_task(self._pub.run(), name="audit-publisher")
        try:
            await asyncio.sleep(min(self._interval, FIRST_RUN_AFTER_S))
            while True:
                started = time.monotonic()
                try:
                    await self.run_once()
                except Exception:  # an audit bug must never stop capture
                    log.exception("audit failed")
                    self._count(Outcome.FAILED)
                await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))
        finally:
            flusher.cancel()

    async def run_once(self) -> Outcome:
        """Run one scheduled audit unless another collector holds the lease; return the outcome."""
        started = time.monotonic()
        try:
            if not await self._lease.acquire():
                log.info("audit skipped: another collector holds %s", self._keys.audit_lease)
                return self._count(Outcome.LEASE_HELD)
        except REDIS_ERRORS as exc:
            log.warning("audit skipped: %s", describe(exc))
            return self._count(Outcome.REDIS_UNREACHABLE)
        finished = False
        try:
            outcome = await self._lease.run(self._audit(started))
            finished = True
        except LeaseLost as exc:
            log.warning("audit stopped: %s", exc)
            outcome = Outcome.LEASE_LOST
        finally:  # done: others skip the rest of the interval; stopped or failed: free it
            with contextlib.suppress(*REDIS_ERRORS, TimeoutError):
                async with asyncio.timeout(1):
                    if finished:
                        await self._lease.hold(self._interval - (time.monotonic() - started))
                    else:
                        await self._lease.release()
        return self._count(outcome)

    async def _audit(self, started: float) -> Outcome:
        try:
            now = _redis_now(await self._redis.time())
            since = await oldest_unstored(self._redis, self._keys)
        except REDIS_ERRORS as exc:
            log.warning("audit skipped: %s", describe(exc))
            return Outcome.REDIS_UNREACHABLE
        if since is not None and (now - since > WRITERS_BEHIND_S or since <= self._published_until):
            log.info(
                "audit postponed: the writers have not stored an entry published %.0fs ago",
                now - since,
            )
            return Outcome.WRITERS_BEHIND
        wall = time.time()
        window = (_dt(wall - self._hours * 3600), _dt(wall - SETTLE_S))
        try:
            reports = await self._auditor.run_once(window)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("audit skipped: PostgreSQL unreachable (%s)", type(exc).__name__)
            return Outcome.DB_UNREACHABLE
        except AuditStopped:
            return Outcome.STOPPED
        try:
            self._published_until = _redis_now(await self._redis.time())
        except REDIS_ERRORS:
            self._published_until = time.time()
        self._report(reports, time.monotonic() - started)
        return Outcome.DONE

    def _report(self, reports: dict[str, SymbolReport], seconds: float) -> None:
        rows = sum(r.rows for r in reports.values())
        holes = sum(r.holes for r in reports.values())
        refilled = sum(r.refilled for r in reports.values())
        lost = {s: len(r.unfillable) for s, r in reports.items() if r.unfillable}
        self._metrics.audit_gaps.inc(holes)
        self._metrics.audit_refilled.inc(refilled)
        log.info(
            "audit: %d symbols, last %dh: rows=%d holes=%d missing=%d refilled=%d "
            "records_closed=%d unfillable_ranges=%d in %.1fs",
            len(reports),
            self._hours,
            rows,
            holes,
            sum(r.missing for r in reports.values()),
            refilled,
            sum(r.records_closed for r in reports.values()),
            sum(lost.values()),
            seconds,
        )
        if lost:
            log.warning("audit: REST could not refill every hole (ranges by symbol: %s)", lost)

    def _count(self, outcome: Outcome) -> Outcome:
        self._metrics.audit_runs.labels(outcome).inc()
        return outcome


def _redis_now(reply: tuple[int, int]) -> float:
    return reply[0] + reply[1] / 1e6


def _dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)
