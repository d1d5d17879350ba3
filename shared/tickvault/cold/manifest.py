"""The manifest tables, ``cold_files`` and ``cold_orphans``: every statement that touches them.

``cold_files`` lists the one file of each symbol's day that readers trust. ``cold_orphans``
lists files that may exist but are not (or no longer) listed: a file being written is noted
there before its first byte (in its own committed transaction, so a kill leaves a trace), a
replaced file when it is replaced; :func:`unlisted_orphans` hands back those not listed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from tickvault.aggregates import Aggregate
from tickvault.cold.parquet import Summary
from tickvault.tick import datetime_to_us, us_to_datetime


@dataclass(frozen=True)
class ColdFile:
    """One listed file."""

    symbol: str
    day: date
    path: str
    rows: int
    first_id: int
    last_id: int
    first_time: datetime
    last_time: datetime
    checksum: str
    aggregate: Aggregate | None = None  # None: listed before migration 0006, not yet filled


_COLUMNS = (
    "symbol, day, path, rows, first_id, last_id, first_time, last_time, checksum, "
    "price_sum, price_sq_sum, volume, quote_volume, first_price, last_price, "
    "high, high_time, low, low_time"
)
# The aggregate's columns and the statement parameters that set them.
_AGGREGATE_SET = (
    "price_sum = :ps, price_sq_sum = :pq, volume = :v, quote_volume = :qv, first_price = :fp, "
    "last_price = :lp, high = :h, high_time = :ht, low = :l, low_time = :lt"
)


def _file(row: Any) -> ColdFile:
    listed = row[:9]
    price_sum, sq_sum, volume, quote, first_price, last_price, high, high_t, low, low_t = row[9:]
    if price_sum is None:
        return ColdFile(*listed)
    aggregate = Aggregate(
        count=listed[3],
        price_sum=price_sum,
        price_sq_sum=sq_sum,
        volume=volume,
        quote_volume=quote,
        first_price=first_price,
        first_time=datetime_to_us(listed[6]),
        last_price=last_price,
        last_time=datetime_to_us(listed[7]),
        high=high,
        high_time=datetime_to_us(high_t),
        low=low,
        low_time=datetime_to_us(low_t),
    )
    return replace(ColdFile(*listed), aggregate=aggregate)


def _aggregate_params(aggregate: Aggregate) -> dict[str, Any]:
    assert aggregate.high_time is not None and aggregate.low_time is not None
    return {
        "ps": aggregate.price_sum,
        "pq": aggregate.price_sq_sum,
        "v": aggregate.volume,
        "qv": aggregate.quote_volume,
        "fp": aggregate.first_price,
        "lp": aggregate.last_price,
        "h": aggregate.high,
        "ht": us_to_datetime(aggregate.high_time),
        "l": aggregate.low,
        "lt": us_to_datetime(aggregate.low_time),
    }


def lock_day(conn: Connection, symbol: str, day: date) -> None:
    """Serialise writers of one symbol's day until the transaction ends."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('tickvault.cold'), hashtext(:key))"),
        {"key": f"{day.isoformat()} {symbol}"},
    )


def try_lock_day(conn: Connection, symbol: str, day: date) -> bool:
    """Lock one symbol's day until the transaction ends if no writer holds it; return whether."""
    return bool(
        conn.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext('tickvault.cold'), hashtext(:key))"),
            {"key": f"{day.isoformat()} {symbol}"},
        ).scalar()
    )


def listed(conn: Connection, symbol: str, day: date) -> ColdFile | None:
    """Return the listed file of *symbol*'s *day*, if any."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM cold_files WHERE symbol = :s AND day = :d"),
        {"s": symbol, "d": day},
    ).first()
    return None if row is None else _file(row)


def files_between(conn: Connection, symbol: str, first: date, last: date) -> list[ColdFile]:
    """Return the listed files of *symbol* for the days first..last, oldest first."""
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM cold_files WHERE symbol = :s AND day >= :a AND day <= :b "
            "ORDER BY day"
        ),
        {"s": symbol, "a": first, "b": last},
    )
    return [_file(r) for r in rows]


def nearest_file(conn: Connection, symbol: str, day: date, before: bool) -> ColdFile | None:
    """Return the listed file of the latest day < *day* (before) or earliest day > *day*."""
    sql = (
        "WHERE symbol = :s AND day < :d ORDER BY day DESC LIMIT 1"
        if before
        else "WHERE symbol = :s AND day > :d ORDER BY day LIMIT 1"
    )
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM cold_files {sql}"), {"s": symbol, "d": day}
    ).first()
    return None if row is None else _file(row)


def put(
    conn: Connection,
    symbol: str,
    day: date,
    path: str,
    summary: Summary,
    size: int,
    aggregate: Aggregate,
) -> None:
    """List *path* as the file of *symbol*'s *day* (replacing the listed one), with the
    *aggregate* of its trades."""
    assert summary.first_id is not None and summary.last_id is not None
    assert summary.first_time_us is not None and summary.last_time_us is not None
    conn.execute(
        text(
            "INSERT INTO cold_files (symbol, day, path, rows, first_id, last_id, first_time, "
            "last_time, checksum, bytes) VALUES (:s, :d, :p, :n, :a, :b, :ta, :tb, :c, :size) "
            "ON CONFLICT (symbol, day) DO UPDATE SET path = excluded.path, rows = excluded.rows, "
            "first_id = excluded.first_id, last_id = excluded.last_id, "
            "first_time = excluded.first_time, last_time = excluded.last_time, "
            "checksum = excluded.checksum, bytes = excluded.bytes, created_at = now()"
        ),
        {
            "s": symbol,
            "d": day,
            "p": path,
            "n": summary.rows,
            "a": summary.first_id,
            "b": summary.last_id,
            "ta": us_to_datetime(summary.first_time_us),
            "tb": us_to_datetime(summary.last_time_us),
            "c": summary.checksum,
            "size": size,
        },
    )
    set_aggregate(conn, path, aggregate)
    conn.execute(text("DELETE FROM cold_orphans WHERE path = :p"), {"p": path})


def set_aggregate(conn: Connection, path: str, aggregate: Aggregate) -> bool:
    """Record the aggregate of the listed file *path*; return whether it is (still) listed."""
    done = conn.execute(
        text(f"UPDATE cold_files SET {_AGGREGATE_SET} WHERE path = :path"),
        {"path": path, **_aggregate_params(aggregate)},
    )
    return bool(done.rowcount)


def without_aggregate(conn: Connection) -> list[str]:
    """Return the listed files whose aggregate is not recorded (listed before migration 0006)."""
    rows = conn.execute(
        text("SELECT path FROM cold_files WHERE price_sum IS NULL ORDER BY symbol, day")
    )
    return [r[0] for r in rows]


def note_orphans(conn: Connection, paths: list[str], *, replaced: bool = False) -> None:
    """Note files that may exist unlisted: being written now, or (*replaced*) unlisted now."""
    since = "'-infinity'::timestamptz" if replaced else "now()"
    for path in paths:
        conn.execute(
            text(
                f"INSERT INTO cold_orphans (path, since) VALUES (:p, {since}) "
                f"ON CONFLICT (path) DO UPDATE SET since = least(cold_orphans.since, {since})"
            ),
            {"p": path},
        )


def unlisted_orphans(conn: Connection) -> list[str]:
    """Return noted files that are not listed: replaced, expired, or being (or never) written.

    One being written right now is told apart by its day's lock (:func:`try_lock_day`).
    """
    rows = conn.execute(
        text(
            "SELECT o.path FROM cold_orphans o "
            "WHERE NOT EXISTS (SELECT 1 FROM cold_files f WHERE f.path = o.path) "
            "ORDER BY o.since"
        )
    )
    return [r[0] for r in rows]


def listed_path(conn: Connection, path: str) -> bool:
    """Return whether *path* is a listed file."""
    found = conn.execute(text("SELECT 1 FROM cold_files WHERE path = :p"), {"p": path}).first()
    return found is not None


def forget_orphan(conn: Connection, path: str) -> None:
    """Drop the note of a file that is gone."""
    conn.execute(text("DELETE FROM cold_orphans WHERE path = :p"), {"p": path})


def expire_before(conn: Connection, day: date) -> list[str]:
    """Unlist every file of a day before *day*; return their paths (now orphans to delete)."""
    paths = [
        r[0]
        for r in conn.execute(
            text("DELETE FROM cold_files WHERE day < :d RETURNING path"), {"d": day}
        )
    ]
    note_orphans(conn, paths, replaced=True)
    return paths
