"""Storing trades of one symbol's day in the cold tier, exactly once.

:func:`store_trades` is the door for anything that has trades of a past day (the archive
import, a late backfill): it merges them with the day's listed file (one row per trade id,
the stored row winning), writes the result as a new file under a temporary name, makes it
durable, reads it back and checks count, first and last id and content checksum, and only
then lists it in the manifest in place of the old file. Calling it again with the same
trades changes nothing. :func:`store_day` does the same inside a caller's transaction (the
mover's, which drops the partitions in that same transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine

from tickvault.cold import manifest, parquet, storage
from tickvault.cold.location import ColdLocation
from tickvault.cold.parquet import Summary
from tickvault.errors import TickvaultError

log = logging.getLogger(__name__)


class ColdVerifyError(TickvaultError):
    """A cold file read back differs from what was written (or from its manifest row)."""


@dataclass(frozen=True)
class StoredDay:
    """What storing trades of one symbol's day did."""

    symbol: str
    day: date
    path: str
    summary: Summary
    added: int  # trades that were not in the cold tier before
    replaced: str | None  # the file listed before, now an orphan to delete


def _listed_table(location: ColdLocation, listed: manifest.ColdFile | None) -> pa.Table | None:
    if listed is None:
        return None
    table = storage.read_file(location, listed.path)
    if table.num_rows != listed.rows:
        raise ColdVerifyError(
            f"{listed.path} holds {table.num_rows} trades but the manifest lists {listed.rows}"
        )
    return table


def store_day(
    conn: Connection,
    engine: Engine,
    location: ColdLocation,
    symbol: str,
    day: date,
    trades: pa.Table,
) -> StoredDay | None:
    """Store *trades* (a :func:`parquet.table_of` table) as part of *symbol*'s *day*, inside
    *conn*'s transaction; None when every one of them was stored already.

    The new file is listed when the caller commits; until then readers keep the old one. The
    paths being written are noted as orphans first, through *engine* (committed at once), so a
    kill before the commit leaves files that :func:`tidy` deletes, never unlisted data.
    """
    manifest.lock_day(conn, symbol, day)
    listed = manifest.listed(conn, symbol, day)
    old = _listed_table(location, listed)
    merged = parquet.merge(old, trades) if old is not None else parquet.sort_by_id(trades)
    before = 0 if old is None else old.num_rows
    if merged.num_rows == before:
        return None
    expected = parquet.summarize(merged)
    final = location.relative(location.new_file(symbol, day))
    with engine.begin() as intent:
        manifest.note_orphans(intent, [final])
    path = storage.write_file(location, merged, symbol, day, relative=final)
    written = storage.read_file(location, path)
    got = parquet.summarize(written)
    if got != expected:
        raise ColdVerifyError(f"{path} read back as {got}, expected {expected}")
    size = storage.size_of(location, path)
    manifest.put(conn, symbol, day, path, got, size)
    if listed is not None:
        manifest.note_orphans(conn, [listed.path], replaced=True)
    replaced = None if listed is None else listed.path
    return StoredDay(symbol, day, path, got, merged.num_rows - before, replaced)


def store_trades(
    engine: Engine, location: ColdLocation, symbol: str, day: date, rows: Sequence[Sequence[Any]]
) -> StoredDay | None:
    """Store trades of *symbol* on UTC *day* in the cold tier exactly once; return what it did.

    *rows* are ``(trade_id, price: Decimal, quantity: Decimal, trade_time, is_buyer_maker)``
    with ``trade_time`` an aware datetime or epoch µs inside *day*. Safe to call again after a
    crash and concurrently with the mover (the day is locked while it is rewritten).
    """
    table = parquet.table_of(rows)
    with engine.begin() as conn:
        stored = store_day(conn, engine, location, symbol, day, table)
    tidy(engine, location)
    return stored


def tidy(engine: Engine, location: ColdLocation) -> int:
    """Delete files that are not listed (replaced, expired, left by a killed writer), except
    those of a day being written right now; return how many went."""
    with engine.connect() as conn:
        paths = manifest.unlisted_orphans(conn)
    deleted = 0
    for path in paths:
        where = location.day_of_path(path)
        with engine.begin() as conn:
            if where is not None and not manifest.try_lock_day(conn, *where):
                continue  # its writer is still at work: its file may be listed in a moment
            if manifest.listed_path(conn, path):
                manifest.forget_orphan(conn, path)
                continue
            if storage.delete_quietly(location, path) or not storage.exists(location, path):
                manifest.forget_orphan(conn, path)
                deleted += 1
    return deleted
