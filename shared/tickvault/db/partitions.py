"""Partition maintenance: create partitions ahead of time and drop expired ones whole.

``trades`` is partitioned by the hour on ``trade_time``: retention then drops whole hours, so
it is precise to the hour (a row is kept at most one hour longer than the retention says) and
each drop is a cheap ``DROP TABLE`` of a detached partition, never a ``DELETE``. Candles and
price levels are partitioned by the day (their retention is counted in days).

Partitions for any instant are created on demand (:func:`ensure_partitions`), so a replay of
an old recording is stored like live data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# How long maintenance waits for a table lock before leaving the partition to the next pass:
# CREATE/DETACH PARTITION lock the parent, and a queued lock would stall every writer.
LOCK_TIMEOUT = "5s"
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class PartitionScheme:
    """How one table is partitioned."""

    table: str
    width: timedelta

    def floor(self, instant: datetime) -> datetime:
        """Return the start of the partition holding *instant*."""
        instant = instant.astimezone(UTC)
        if self.width == HOUR:
            return instant.replace(minute=0, second=0, microsecond=0)
        return instant.replace(hour=0, minute=0, second=0, microsecond=0)

    def name(self, start: datetime) -> str:
        """Return the partition name for the partition starting at *start*."""
        stamp = "%Y%m%d%H" if self.width == HOUR else "%Y%m%d"
        return f"{self.table}_p{start.strftime(stamp)}"

    def parse(self, name: str) -> datetime | None:
        """Return the start of partition *name*, or None when it is not one of ours."""
        match = re.fullmatch(re.escape(self.table) + r"_p(\d{8}|\d{10})", name)
        if not match:
            return None
        fmt = "%Y%m%d%H" if len(match.group(1)) == 10 else "%Y%m%d"
        return datetime.strptime(match.group(1), fmt).replace(tzinfo=UTC)


TRADES = PartitionScheme("trades", HOUR)
CANDLES = PartitionScheme("candles_1m", DAY)
LEVELS = PartitionScheme("price_levels_1m", DAY)
SCHEMES = (TRADES, CANDLES, LEVELS)


@dataclass
class MaintenanceReport:
    """What one maintenance pass did."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def existing_partitions(conn: Connection, scheme: PartitionScheme) -> dict[str, datetime]:
    """Return the partitions of *scheme*'s table, by name, with their start."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = :table AND p.relnamespace = current_schema()::regnamespace"
        ),
        {"table": scheme.table},
    ).scalars()
    out = {}
    for name in rows:
        start = scheme.parse(name)
        if start is not None:
            out[name] = start
    return out


def create_partition(conn: Connection, scheme: PartitionScheme, start: datetime) -> bool:
    """Create the partition starting at *start* unless it exists; return whether it was made.

    A transaction-scoped advisory lock serialises creators, so writer replicas racing to
    create the same hour do not fail.
    """
    name = scheme.name(start)
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
    exists = conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar()
    if exists:
        return False
    end = start + scheme.width
    conn.execute(
        text(
            f'CREATE TABLE "{name}" PARTITION OF "{scheme.table}" '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    log.info("created partition %s", name)
    return True


def ensure_partitions(
    conn: Connection, scheme: PartitionScheme, instants: Iterable[datetime]
) -> list[str]:
    """Make sure a partition exists for every instant; return the names created."""
    starts = sorted({scheme.floor(i) for i in instants})
    return [scheme.name(s) for s in starts if create_partition(conn, scheme, s)]


def maintain(
    engine: Engine,
    *,
    retention_hours: int,
    candle_retention_days: int,
    now: datetime | None = None,
    hours_ahead: int = 3,
) -> MaintenanceReport:
    """Create partitions ahead of *now* and drop those wholly older than the retention.

    A retention of 0 keeps everything. Each partition is created or dropped in its own short
    transaction with a lock timeout, so ingestion is never blocked for long.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    report = MaintenanceReport()
    plans = (
        (
            TRADES,
            timedelta(hours=retention_hours),
            [now + HOUR * i for i in range(hours_ahead + 1)],
        ),
        (CANDLES, timedelta(days=candle_retention_days), [now, now + DAY]),
        (LEVELS, timedelta(days=candle_retention_days), [now, now + DAY]),
    )
    for scheme, retention, ahead in plans:
        for instant in ahead:
            name = scheme.name(scheme.floor(instant))
            with _lock_timeout_tolerated(name), engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                report.created += ensure_partitions(conn, scheme, [instant])
        if retention:
            report.dropped += drop_expired(engine, scheme, now - retention)
    return report


def drop_expired(engine: Engine, scheme: PartitionScheme, cut: datetime) -> list[str]:
    """Detach and drop every partition of *scheme* that ends at or before *cut*."""
    with engine.connect() as conn:
        partitions = existing_partitions(conn, scheme)
    dropped = []
    for name, start in sorted(partitions.items(), key=lambda kv: kv[1]):
        if start + scheme.width > cut:
            continue
        with _lock_timeout_tolerated(name), engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            conn.execute(text(f'ALTER TABLE "{scheme.table}" DETACH PARTITION "{name}"'))
            conn.execute(text(f'DROP TABLE "{name}"'))
            log.info("dropped partition %s (ended before %s)", name, cut.isoformat())
            dropped.append(name)
    return dropped


@contextmanager
def _lock_timeout_tolerated(name: str) -> Iterator[None]:
    """Skip (and log) a partition whose lock was not granted in time; the next pass retries."""
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        log.warning("partition %s skipped: its table stayed locked for %s", name, LOCK_TIMEOUT)
