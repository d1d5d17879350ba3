"""Files in the cold tier: written whole and durably under a temporary name, then renamed into
place; read (optionally only a time range); deleted.

A local file is fsynced before and its directory after the rename, so a crash never leaves a
renamed file without its bytes. An object store's PUT is durable once answered; its "rename"
is a copy and a delete, so a reader listing ``trades/`` still never sees half an object. Any
failure of the filesystem or the store becomes :class:`ColdUnavailable`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from tickvault.cold import parquet
from tickvault.cold.location import ColdLocation
from tickvault.errors import StoreUnavailable
from tickvault.tick import MAX_TIME_US, MIN_TIME_US, us_to_datetime


class ColdUnavailable(StoreUnavailable):
    """The cold tier's directory or object store failed or did not answer."""


@contextmanager
def unavailable_on_error(location: ColdLocation, doing: str) -> Iterator[None]:
    """Turn an I/O failure of the cold tier into :class:`ColdUnavailable` naming *doing*."""
    try:
        yield
    except OSError as exc:  # pyarrow's I/O errors (ArrowIOError) are OSErrors
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ColdUnavailable(f"the cold tier ({location.url}) failed {doing}: {reason}") from exc


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(
    location: ColdLocation, table: pa.Table, symbol: str, day: date, *, relative: str | None = None
) -> str:
    """Write *table* as a new file of *symbol*'s *day* (at *relative* if given, a path from
    :meth:`ColdLocation.new_file`); return its path relative to the root."""
    final = location.absolute(relative) if relative else location.new_file(symbol, day)
    temp = location.temp_file()
    fs = location.filesystem
    with unavailable_on_error(location, f"writing {symbol} {day}"):
        fs.create_dir(temp.rsplit("/", 1)[0], recursive=True)
        fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        if location.is_local:
            with open(temp, "wb") as out:
                parquet.write(table, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
            _fsync_dir(final.rsplit("/", 1)[0])
        else:
            with fs.open_output_stream(temp) as out:
                parquet.write(table, out)
            try:
                fs.move(temp, final)
            finally:
                delete_quietly(location, location.relative(temp))
    return location.relative(final)


def read_file(
    location: ColdLocation,
    relative: str,
    start_us: int | None = None,
    end_us: int | None = None,
) -> pa.Table:
    """Return the trades of one file, only those with start <= trade_time < end if given."""
    path = location.absolute(relative)
    with unavailable_on_error(location, f"reading {relative}"):
        if start_us is None and end_us is None:
            return pq.read_table(path, filesystem=location.filesystem, partitioning=None)
        dataset = ds.dataset(path, format="parquet", filesystem=location.filesystem)
        t = ds.field("trade_time")
        lo = MIN_TIME_US if start_us is None else start_us
        hi = MAX_TIME_US if end_us is None else end_us
        where = (t >= us_to_datetime(lo)) & (t < us_to_datetime(hi))
        return dataset.to_table(filter=where)


def delete_quietly(location: ColdLocation, relative: str) -> bool:
    """Delete one file if it is there; return whether it went (a failure is left for later)."""
    try:
        location.filesystem.delete_file(location.absolute(relative))
    except (FileNotFoundError, OSError):
        return False
    return True


def size_of(location: ColdLocation, relative: str) -> int:
    """Return the size of one file in bytes."""
    with unavailable_on_error(location, f"reading the size of {relative}"):
        info = location.filesystem.get_file_info(location.absolute(relative))
    return int(info.size or 0)


def exists(location: ColdLocation, relative: str) -> bool:
    """Return whether a file is there (a failure to tell counts as there)."""
    try:
        info = location.filesystem.get_file_info(location.absolute(relative))
    except OSError:
        return True
    return bool(info.type != pafs.FileType.NotFound)
