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
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine

from tickvault.aggregates import Folder
from tickvault.cold import manifest, parquet, storage
from tickvault.cold.location import ColdLocation
from tickvault.cold.parquet import Summary
from tickvault.errors import LeaseLost, TickvaultError
from tickvault.lease import Lease

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


def _file_schema(
    location: ColdLocation, listed: manifest.ColdFile | None, new: pa.Schema
) -> pa.Schema:
    """Return the schema of the day's new file: the decimals wide enough for both sides."""
    if listed is None:
        return new
    old = storage.file_schema(location, listed.path)
    types = []
    for column in ("price", "quantity"):
        have, add = old.field(column).type, new.field(column).type
        if have.scale != add.scale:
            raise parquet.ColdFormatError(
                f"new {column} values carry {add.scale} decimals, the stored ones {have.scale}"
            )
        types.append(have if have.precision >= add.precision else add)
    return parquet.schema(*types)


class _Counted:
    """Batches passed through, counted (rows, first and last id) as they go by."""

    def __init__(self, batches: Iterable[pa.Table]) -> None:
        self._batches = batches
        self.rows = 0
        self.first_id: int | None = None
        self.last_id: int | None = None

    def __iter__(self) -> Iterator[pa.Table]:
        for batch in self._batches:
            if batch.num_rows:
                self.rows += batch.num_rows
                if self.first_id is None:
                    self.first_id = batch["trade_id"][0].as_py()
                self.last_id = batch["trade_id"][-1].as_py()
            yield batch


def _summarized(
    batches: Iterable[pa.Table], summarizer: parquet.Summarizer, folder: Folder
) -> Iterator[pa.Table]:
    for batch in batches:
        summarizer.add(batch)
        folder.add(batch)
        yield batch


def store_day(
    conn: Connection,
    engine: Engine,
    location: ColdLocation,
    symbol: str,
    day: date,
    new_schema: pa.Schema,
    batches: Iterable[pa.Table],
    *,
    expected_read: tuple[int, int | None, int | None] | None = None,
) -> StoredDay | None:
    """Store the trades of *batches* (tables of *new_schema*, in trade-id order) as part of
    *symbol*'s *day*, inside *conn*'s transaction; None when every one was stored already.

    The trades are merged with the day's listed file and written a row group at a time, and
    summarized (count, first and last id and time, checksum) as they are written and again as
    the file is read back: memory stays bounded whatever the day holds. The file's aggregates
    (:class:`~tickvault.aggregates.Aggregate`) are folded as it is written and listed with it.
    *expected_read*, when given, is the count and first and last id *batches* must have
    yielded (the mover's ``count(*)``, ``min`` and ``max`` from PostgreSQL); any other raises
    :class:`ColdVerifyError`.

    The new file is listed when the caller commits; until then readers keep the old one. The
    paths being written are noted as orphans first, through *engine* (committed at once), so a
    kill before the commit leaves files that :func:`tidy` deletes, never unlisted data.
    """
    manifest.lock_day(conn, symbol, day)
    listed = manifest.listed(conn, symbol, day)
    out_schema = _file_schema(location, listed, new_schema)
    price, quantity = out_schema.field("price").type, out_schema.field("quantity").type
    old = _Counted(storage.read_batches(location, listed.path) if listed is not None else [])
    new = _Counted(batches)
    expected = parquet.Summarizer(price.scale, quantity.scale)
    final = location.relative(location.new_file(symbol, day))
    with engine.begin() as intent:
        manifest.note_orphans(intent, [final])
    folder = Folder()  # the file's aggregates, for the manifest, as it is written
    merged = _summarized(parquet.merge_sorted(old, new), expected, folder)
    path = storage.write_stream(location, out_schema, merged, symbol, day, relative=final)
    if listed is not None and old.rows != listed.rows:
        raise ColdVerifyError(
            f"{listed.path} holds {old.rows} trades but the manifest lists {listed.rows}"
        )
    if expected_read is not None and (new.rows, new.first_id, new.last_id) != expected_read:
        raise ColdVerifyError(
            f"{symbol} {day}: read {(new.rows, new.first_id, new.last_id)} trades (count, first "
            f"and last id), expected {expected_read}"
        )
    if expected.summary().rows == old.rows:
        storage.delete_quietly(location, path)  # nothing new: the noted orphan goes at tidy
        return None
    readback = parquet.Summarizer(price.scale, quantity.scale)
    for batch in storage.read_batches(location, path):
        readback.add(batch)
    got = readback.summary()
    if got != expected.summary():
        raise ColdVerifyError(f"{path} read back as {got}, expected {expected.summary()}")
    size = storage.size_of(location, path)
    manifest.put(conn, symbol, day, path, got, size, folder.aggregate())
    if listed is not None:
        manifest.note_orphans(conn, [listed.path], replaced=True)
    replaced = None if listed is None else listed.path
    return StoredDay(symbol, day, path, got, got.rows - old.rows, replaced)


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
        manifest.lock_day(conn, symbol, day)  # held again by store_day: the lock stacks
        listed = manifest.listed(conn, symbol, day)
        if listed is not None and _all_stored(location, listed, table):
            return None  # a repeated import: nothing to write
        stored = store_day(conn, engine, location, symbol, day, table.schema, [table])
    tidy(engine, location)
    return stored


def _all_stored(location: ColdLocation, listed: manifest.ColdFile, table: pa.Table) -> bool:
    """Return whether every trade id of *table* is in the listed file (its ids column only)."""
    if table.num_rows == 0:
        return True
    stored = storage.read_column(location, listed.path, "trade_id")
    return bool(pc.all(pc.is_in(table["trade_id"], value_set=stored)).as_py())


def tidy(engine: Engine, location: ColdLocation) -> int:
    """Delete files that are not listed (replaced, expired, left by a killed writer) and stale
    temporary files, except those of a day being written right now; return how many went."""
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
    return deleted + _tidy_temp_files(engine, location)


def _tidy_temp_files(engine: Engine, location: ColdLocation) -> int:
    """Delete temporary files whose day nobody is writing (a killed writer's leftovers).

    A temporary file is written only under its day's lock, so one whose day can be locked is
    stale. One not named after a day (older versions) is left alone.
    """
    deleted = 0
    for path in storage.temp_files(location):
        where = location.day_of_path(path)
        if where is None:
            continue
        with engine.begin() as conn:
            if manifest.try_lock_day(conn, *where) and storage.delete_quietly(location, path):
                log.info("deleted the stale temporary file %s", path)
                deleted += 1
    return deleted


def fill_aggregates(
    engine: Engine,
    location: ColdLocation,
    lease: Lease | None = None,
    budget_s: float | None = None,
) -> int:
    """Record the aggregates of listed files that have none (listed before migration 0006),
    reading each file once; return how many were filled.

    A file replaced meanwhile is skipped (its successor was listed with its aggregates), and
    so is one that cannot be read (logged; the API reads it, and answers ``unavailable`` if it
    cannot either). With a *lease*, it is renewed before each file and a lost lease stops the
    pass; with *budget_s*, the pass stops after that many seconds (the next one goes on).
    """
    with engine.connect() as conn:
        paths = manifest.without_aggregate(conn)
    began = time.monotonic()
    filled = 0
    for path in paths:
        if budget_s is not None and time.monotonic() - began > budget_s:
            break
        if lease is not None and not lease.renew():
            raise LeaseLost(f"the lease {lease.key} was lost while filling cold aggregates")
        folder = Folder()
        try:
            for batch in storage.read_batches(location, path):
                folder.add(batch)
        except storage.ColdUnavailable as exc:
            log.warning("could not record the aggregates of %s: %s", path, exc)
            continue
        with engine.begin() as conn:
            filled += manifest.set_aggregate(conn, path, folder.aggregate())
    if filled:
        log.info("recorded the aggregates of %d of %d older cold files", filled, len(paths))
    return filled
