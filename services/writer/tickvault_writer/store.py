"""PostgreSQL side of the writer: one transaction per batch through a raw psycopg2 connection.

The fast path is a binary ``COPY`` straight into ``trades`` inside a savepoint, then one
statement upserting the batch's candles and price levels, aggregated in Python
(:mod:`tickvault_writer.prepare`). When a trade was already stored, the COPY fails with a
unique violation and the batch takes the fallback: the same COPY stream into a temporary
staging table (created once per connection, emptied at every commit), one statement that
inserts it ``ON CONFLICT DO NOTHING`` returning the rows that went in, and the same Python
aggregation of only those rows (:mod:`tickvault_writer.sql`). One COPY encoder (binary) and
one candle aggregation (Python) serve both paths. Partitions are made sure of before
the transaction, through a separate short-lived connection, and remembered, so a batch whose
hours are known costs no extra round trip.

Failures are sorted in two: :class:`~tickvault.errors.StoreUnavailable` (connection lost,
server restarting, deadlock, lock or statement timeout: retry the same batch later) and
:class:`RowsRefused` (the database rejects the data itself: isolate the row).
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from tickvault.codec import GapRecord
from tickvault.db import partitions
from tickvault.db.engine import libpq_dsn, make_engine
from tickvault.errors import ConfigError, StoreUnavailable, TickvaultError
from tickvault.tick import Tick, datetime_to_us, us_to_datetime
from tickvault_writer import sql
from tickvault_writer.batch import Batch, merge_gaps
from tickvault_writer.prepare import CannotPrepare, Prepared, aggregate_params, prepare

log = logging.getLogger(__name__)

CHECK_VIOLATION = "23514"  # also what "no partition of relation ... found for row" raises
SESSION_OPTIONS = "-c TimeZone=UTC -c statement_timeout=60000 -c lock_timeout=20000"
US_PER_HOUR = 3_600_000_000


class RowsRefused(TickvaultError):
    """PostgreSQL refused the batch's data (not the connection): a row must be isolated."""


class Rows(Protocol):
    """Trades to store in one transaction, however they are held."""

    def __len__(self) -> int:
        """Return how many trades there are."""

    def hours(self) -> set[int]:
        """Return the hours (epoch µs) the trades fall in."""

    def prepared(self) -> Prepared:
        """Return the fast path's COPY stream and aggregates (raise CannotPrepare)."""

    def ticks(self) -> Sequence[Tick]:
        """Return the trades as ticks (the fallback path's)."""


@dataclass(frozen=True, slots=True)
class TickRows:
    """Trades held as ticks, prepared beforehand or not."""

    items: Sequence[Tick]
    ready: Prepared | None = None

    def __len__(self) -> int:
        return len(self.items)

    def hours(self) -> set[int]:
        """Return the hours (epoch µs) the trades fall in."""
        return hours_of(self.items)

    def prepared(self) -> Prepared:
        """Return the fast path's COPY stream and aggregates (raise CannotPrepare)."""
        return self.ready or prepare(self.items)

    def ticks(self) -> Sequence[Tick]:
        """Return the trades."""
        return self.items


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch did to PostgreSQL."""

    inserted: int
    duplicates: int
    candles: int
    levels: int
    gaps: int
    seconds: float
    committed_us: int = 0  # wall-clock epoch µs of the commit
    fallback: bool = False  # some trade was already stored: the ON CONFLICT path ran


class PgStore:
    """Writes batches to PostgreSQL, one transaction each; reconnects when needed."""

    def __init__(self, database_url: str, *, application_name: str = "tickvault-writer") -> None:
        self._dsn = libpq_dsn(database_url)
        self._url = database_url
        self._application_name = application_name
        self._conn: psycopg2.extensions.connection | None = None
        self._engine: Engine | None = None
        self._known: set[tuple[str, int]] = set()  # (table, hour or day start in µs)

    # ------------------------------------------------------------------ connection

    def check(self) -> None:
        """Connect now: raise ConfigError when the URL reaches a standby only, and let a
        PostgreSQL that is down (StoreUnavailable) wait for the first batch's retries."""
        with contextlib.suppress(StoreUnavailable):
            self._connection()

    def _connection(self) -> psycopg2.extensions.connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = None
        try:
            conn = psycopg2.connect(
                self._dsn,
                application_name=self._application_name,
                connect_timeout=5,
                options=SESSION_OPTIONS,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                if cur.fetchone() == (True,):
                    conn.close()
                    raise ConfigError(
                        "TICKVAULT_DATABASE_URL reaches a read-only standby: the writer needs "
                        "the primary (list every server, libpq-style, and the writer follows "
                        "the one that accepts writes)"
                    )
                cur.execute(sql.CREATE_STAGING)
                cur.execute(sql.LIST_PARTITIONS)
                self._remember(name for (name,) in cur.fetchall())
            conn.commit()
        except psycopg2.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
        self._conn = conn
        return conn

    def _partition_engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(
                self._url,
                application_name=f"{self._application_name}-partitions",
                poolclass=NullPool,
            )
        return self._engine

    def close(self) -> None:
        """Close the connections."""
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _remember(self, names: Iterable[str]) -> None:
        """Note existing partitions, so batches for their hours skip the creation step."""
        days: dict[int, set[str]] = {}
        for name in names:
            hour = partitions.TRADES.parse(name)
            if hour is not None and name.startswith("trades_p"):
                self._known.add(("trades", datetime_to_us(hour)))
            for scheme in (partitions.CANDLES, partitions.LEVELS):
                day = scheme.parse(name)
                if day is not None:
                    days.setdefault(datetime_to_us(day), set()).add(scheme.table)
        self._known.update(("day", d) for d, tables in days.items() if len(tables) == 2)

    def forget_partitions(self) -> None:
        """Forget which partitions exist (after one was dropped under us)."""
        self._known.clear()

    # ------------------------------------------------------------------ partitions

    def ensure_partitions(self, hours: set[int]) -> None:
        """Create any missing trades/candles/levels partition for these hours."""
        day = 24 * US_PER_HOUR
        need_hours = {h for h in hours if ("trades", h) not in self._known}
        need_days = {h - h % day for h in hours} - {d for t, d in self._known if t == "day"}
        if not need_hours and not need_days:
            return
        try:
            with self._partition_engine().begin() as conn:
                if need_hours:
                    partitions.ensure_partitions(conn, partitions.TRADES, _instants(need_hours))
                if need_days:
                    days = _instants(need_days)
                    partitions.ensure_partitions(conn, partitions.CANDLES, days)
                    partitions.ensure_partitions(conn, partitions.LEVELS, days)
        except Exception as exc:  # SQLAlchemy wraps every driver error: all are transient here
            raise StoreUnavailable(f"cannot create partitions: {_first_line(exc)}") from exc
        self._known.update(("trades", h) for h in need_hours)
        self._known.update(("day", d) for d in need_days)

    # ------------------------------------------------------------------ writing

    def write(self, batch: Batch) -> WriteResult:
        """Store the batch's ticks, candles, levels and gaps in one transaction."""
        return self.write_rows(TickRows(batch.ticks, batch.prepared), batch.gaps)

    def write_rows(self, rows: Rows, gap_records: Sequence[GapRecord] = ()) -> WriteResult:
        """Store *rows* with their candles and levels, and *gap_records*, in one transaction."""
        started = time.perf_counter()
        if len(rows):
            self.ensure_partitions(rows.hours())
        conn = self._connection()
        inserted = candles = levels = gaps = 0
        fast = True
        try:
            with conn.cursor() as cur:
                if len(rows):
                    inserted, candles, levels, fast = _insert_trades(cur, rows)
                if gap_records:
                    merged = merge_gaps(gap_records)
                    cur.execute(sql.UPSERT_GAPS, _gap_columns(merged))
                    gaps = len(merged)
            conn.commit()
        except psycopg2.Error as exc:
            self._after_error(conn, exc)
        return WriteResult(
            inserted=inserted,
            duplicates=len(rows) - inserted,
            candles=candles,
            levels=levels,
            gaps=gaps,
            seconds=time.perf_counter() - started,
            committed_us=time.time_ns() // 1000,
            fallback=not fast,
        )

    def _after_error(self, conn: psycopg2.extensions.connection, exc: psycopg2.Error) -> None:
        """Roll back, then raise the error's class: transient or refused data."""
        try:
            if not conn.closed:
                conn.rollback()
        except psycopg2.Error:
            conn.close()
        if conn.closed:
            self._conn = None
        text = _first_line(exc)
        if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
            raise StoreUnavailable(f"PostgreSQL: {text}") from exc
        if exc.pgcode == CHECK_VIOLATION and "no partition" in text:
            self.forget_partitions()  # dropped by retention under us: make it again
            raise StoreUnavailable(f"partition vanished: {text}") from exc
        raise RowsRefused(text) from exc


def _insert_trades(cur: psycopg2.extensions.cursor, rows: Rows) -> tuple[int, int, int, bool]:
    """Insert the batch's trades; fold the inserted ones into candles and levels.

    Return (inserted, candles, levels, fast). The fast path is a binary ``COPY`` straight
    into ``trades`` (PostgreSQL's multi-row insert) inside a savepoint: when every trade is
    new, the batch's own aggregates are the candles' and levels' increments. One already
    stored (a redelivery, a replay after a crash, a duplicate within the batch) fails the
    COPY with a unique violation; rolling back to the savepoint undoes it whole, and the same
    COPY stream goes into the staging table instead, to insert ``ON CONFLICT DO NOTHING``
    and aggregate only the rows that went in.
    """
    try:
        prepared = rows.prepared()
    except CannotPrepare as exc:  # let PostgreSQL's refusal of the row isolate it
        raise RowsRefused(f"cannot encode the batch: {exc}") from exc
    data = prepared.copy_data
    cur.execute("SAVEPOINT tv_fast")
    try:
        cur.copy_expert(sql.COPY_TRADES, io.BytesIO(data), size=len(data))  # one read
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT tv_fast")
        new = _insert_new(cur, rows.ticks(), data)
        if not new:
            return 0, 0, 0, False
        try:
            params, _, _ = aggregate_params(new)
        except CannotPrepare as exc:
            raise RowsRefused(f"cannot aggregate the batch: {exc}") from exc
        candles, levels = _upsert_aggregates(cur, params)
        return len(new), candles, levels, False
    candles, levels = _merge_aggregates(cur, prepared)
    return len(rows), candles, levels, True


def _merge_aggregates(cur: psycopg2.extensions.cursor, prepared: Prepared) -> tuple[int, int]:
    """Merge the candles and levels of trades that were all new; return their counts.

    An import's block brings the levels of the minutes it holds whole as a ``COPY`` stream:
    when none of them is stored yet (the common case of a bulk import) they are copied, in a
    savepoint, and only the rest is upserted; one already stored (a unique violation) undoes
    the copy and the upsert takes them all, as for any batch.
    """
    if prepared.levels_copy is not None:
        stream, params = prepared.levels_copy
        cur.execute("SAVEPOINT tv_levels")
        try:
            cur.copy_expert(sql.COPY_LEVELS, io.BytesIO(stream), size=len(stream))
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT tv_levels")
        else:
            candles, _ = _upsert_aggregates(cur, params)
            return candles, prepared.levels
    return _upsert_aggregates(cur, prepared.params)


def _insert_new(cur: psycopg2.extensions.cursor, ticks: Sequence[Tick], data: bytes) -> list[Tick]:
    """Insert the ticks not stored yet (through the staging table); return those ticks."""
    cur.copy_expert(sql.COPY_STAGING, io.BytesIO(data), size=len(data))
    cur.execute(sql.INSERT_NEW)
    went_in = Counter(cur.fetchall())  # rows are (symbol, trade_id, trade_time in µs)
    new = []
    for tick in ticks:  # a trade twice in the batch went in once
        key = (tick.symbol, tick.trade_id, tick.trade_time)
        if went_in[key] > 0:
            went_in[key] -= 1
            new.append(tick)
    return new


def _upsert_aggregates(cur: psycopg2.extensions.cursor, params: Sequence[str]) -> tuple[int, int]:
    """Merge candles and price levels; return how many of each were upserted."""
    cur.execute(sql.UPSERT_AGGREGATES, params)
    row = cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def hours_of(ticks: Iterable[Tick]) -> set[int]:
    """Return the distinct hours (epoch µs floored to the hour) the ticks' trade times fall in."""
    return {t.trade_time - t.trade_time % US_PER_HOUR for t in ticks}


def _instants(hours: Iterable[int]) -> list[datetime]:
    """Return the hours (epoch µs) as aware UTC datetimes."""
    return [us_to_datetime(h) for h in sorted(hours)]


def _gap_columns(gaps: list[GapRecord]) -> tuple[list[object], ...]:
    """Return the gap records as the column arrays :data:`sql.UPSERT_GAPS` unnests."""
    return (
        [g.symbol for g in gaps],
        [g.first_id for g in gaps],
        [g.last_id for g in gaps],
        [g.status.value for g in gaps],
        [g.found_by for g in gaps],
        [g.reason for g in gaps],
        [g.detected_at for g in gaps],
        [g.filled_at for g in gaps],
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
