"""Moving whole days of trades from PostgreSQL to the cold tier, and expiring cold days.

A UTC day moves once every hourly partition of it is past the retention cut. One transaction
per day: the day's partitions are locked against writes (``SHARE``: readers go on), each
symbol's trades are read and stored (:func:`tickvault.cold.store.store_day`: merged with what
the cold tier holds, written, read back and verified), listed in the manifest, and only then
are the partitions detached and dropped. A kill or a failure anywhere before the commit
rolls all of it back (the partitions stay, the written files are noted orphans); after it,
nothing is left to do but delete replaced files. Trades that arrive later for a moved day
create its hour's partition again and are merged into the day's file by the next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, text

from tickvault.cold import manifest, parquet, store
from tickvault.cold.location import ColdLocation, open_location
from tickvault.config import Settings
from tickvault.db.partitions import (
    LOCK_TIMEOUT,
    TRADES,
    MaintenanceReport,
    existing_partitions,
    maintain,
)
from tickvault.errors import LeaseLost
from tickvault.lease import Lease

log = logging.getLogger(__name__)
DAY = timedelta(days=1)
_ROWS = text(
    "SELECT trade_id, price, quantity, trade_time, is_buyer_maker FROM trades "
    "WHERE symbol = :symbol AND trade_time >= :start AND trade_time < :end ORDER BY trade_id"
)
_CHECK = text(
    "SELECT count(*), min(trade_id), max(trade_id), min(scale(price)), max(scale(price)), "
    "max(abs(price)), min(scale(quantity)), max(scale(quantity)), max(abs(quantity)) "
    "FROM trades WHERE symbol = :symbol AND trade_time >= :start AND trade_time < :end"
)
CHUNK = 50_000  # rows fetched from PostgreSQL at a time: what bounds a move's memory
# Seconds a maintenance pass spends recording the aggregates of files listed before migration
# 0006: a whole market's history takes hours, and the pass must come back to its partitions.
FILL_BUDGET_S = 60.0


@dataclass
class MoveReport:
    """What one move pass did."""

    days: list[date] = field(default_factory=list)
    files: int = 0
    trades: int = 0  # trades read from PostgreSQL and now in the cold tier
    dropped: list[str] = field(default_factory=list)
    expired: int = 0
    aggregated: int = 0  # files listed before migration 0006 whose aggregates were recorded


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def movable_days(engine: Engine, cut: datetime) -> dict[date, list[str]]:
    """Return the days whose every hour ends at or before *cut*, with their partitions."""
    with engine.connect() as conn:
        partitions = existing_partitions(conn, TRADES)
    out: dict[date, list[str]] = {}
    for name, start in sorted(partitions.items(), key=lambda kv: kv[1]):
        day = start.date()
        if _day_start(day) + DAY <= cut:
            out.setdefault(day, []).append(name)
    return out


def _symbols(conn: Connection, partitions: list[str]) -> list[str]:
    union = " UNION ".join(f'SELECT DISTINCT symbol FROM "{p}"' for p in partitions)
    return sorted(r[0] for r in conn.execute(text(union)))


def _new_schema(symbol: str, day: date, check: Sequence[Any]) -> pa.Schema:
    """Return the schema the day's trades fit, from the :data:`_CHECK` row."""
    types = []
    for column, (low, high, largest) in zip(
        ("price", "quantity"), (check[3:6], check[6:9]), strict=True
    ):
        if low != high:
            raise parquet.ColdFormatError(
                f"{symbol} {day}: {column} values carry different numbers of decimals "
                f"[{low}, {high}]: a Parquet DECIMAL column has one scale"
            )
        types.append(parquet.decimal_type_for(largest, max(8 if high is None else high, 0)))
    return parquet.schema(*types)


def _chunks(conn: Connection, params: dict[str, Any], file_schema: pa.Schema) -> Iterator[pa.Table]:
    """Yield the trades of one symbol's day from PostgreSQL, :data:`CHUNK` rows at a time."""
    streamed = {"stream_results": True, "max_row_buffer": CHUNK}
    result = conn.execute(_ROWS, params, execution_options=streamed)
    for rows in result.partitions(CHUNK):
        yield parquet.table_of(rows).cast(file_schema)


def move_day(
    engine: Engine, location: ColdLocation, day: date, partitions: list[str]
) -> MoveReport:
    """Move the trades of *day* (held in *partitions*) to the cold tier and drop them.

    Each symbol's trades stream from PostgreSQL in chunks into the file's row groups, so the
    memory a move takes does not grow with the day.
    """
    report = MoveReport(days=[day])
    bounds = {"start": _day_start(day), "end": _day_start(day) + DAY}
    stored: list[store.StoredDay] = []
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        for name in partitions:
            conn.execute(text(f'LOCK TABLE "{name}" IN SHARE MODE'))
        for symbol in _symbols(conn, partitions):
            params = {"symbol": symbol, **bounds}
            check = conn.execute(_CHECK, params).one()
            new_schema = _new_schema(symbol, day, check)
            chunks = _chunks(conn, params, new_schema)
            count, first, last = check[:3]
            done = store.store_day(
                conn,
                engine,
                location,
                symbol,
                day,
                new_schema,
                chunks,
                expected_read=(count, first, last),
            )
            report.trades += check[0]
            if done is not None:
                stored.append(done)
        for name in partitions:
            conn.execute(text(f'ALTER TABLE "{TRADES.table}" DETACH PARTITION "{name}"'))
            conn.execute(text(f'DROP TABLE "{name}"'))
        report.dropped = list(partitions)
    report.files = len(stored)
    log.info(
        "moved %s to the cold tier: %d trades of %d symbols, %d partitions dropped",
        day,
        report.trades,
        len(stored),
        len(partitions),
    )
    return report


def move_expired(
    engine: Engine,
    location: ColdLocation,
    cut: datetime,
    *,
    cold_retention_days: int = 0,
    today: date | None = None,
    lease: Lease | None = None,
    fill_budget_s: float | None = None,
) -> MoveReport:
    """Move every day wholly before *cut*, oldest first; expire cold days past their retention;
    record the aggregates of files listed without them (before migration 0006), for at most
    *fill_budget_s* seconds if given.

    With a *lease* (the writers' maintenance lease), it is renewed before each day, and a
    lease lost stops the pass (:class:`LeaseLost`) between two days, never inside one.
    """
    report = MoveReport()
    for day, partitions in movable_days(engine, cut).items():
        if lease is not None and not lease.renew():
            raise LeaseLost(f"the lease {lease.key} was lost before moving {day}")
        done = move_day(engine, location, day, partitions)
        report.days += done.days
        report.files += done.files
        report.trades += done.trades
        report.dropped += done.dropped
    if cold_retention_days:
        keep_from = (today or datetime.now(UTC).date()) - timedelta(days=cold_retention_days)
        with engine.begin() as conn:
            report.expired = len(manifest.expire_before(conn, keep_from))
    store.tidy(engine, location)
    report.aggregated = store.fill_aggregates(engine, location, lease, fill_budget_s)
    return report


def maintain_tiers(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    hours_ahead: int = 3,
    lease: Lease | None = None,
    fill_budget_s: float | None = FILL_BUDGET_S,
) -> tuple[MaintenanceReport, MoveReport | None]:
    """Run partition maintenance; with a cold tier, move expired trades there, not drop them,
    and record the aggregates of older files for up to *fill_budget_s* (None: all of them)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    location = open_location(settings)
    report = maintain(
        engine,
        retention_hours=0 if location is not None else settings.retention_hours,
        candle_retention_days=settings.candle_retention_days,
        now=now,
        hours_ahead=hours_ahead,
    )
    if location is None or not settings.retention_hours:
        return report, None
    moved = move_expired(
        engine,
        location,
        now - timedelta(hours=settings.retention_hours),
        cold_retention_days=settings.cold_retention_days,
        today=now.date(),
        lease=lease,
        fill_budget_s=fill_budget_s,
    )
    return report, moved
