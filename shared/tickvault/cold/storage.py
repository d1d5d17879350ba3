"""Files in the cold tier: written whole and durably under a temporary name, then renamed into
place; read (optionally only a time range); deleted.

A local file is fsynced before and its directory after the rename, so a crash never leaves a
renamed file without its bytes. An object store's PUT is durable once answered; its "rename"
is a copy and a delete, so a reader listing ``trades/`` still never sees half an object. Any
failure of the filesystem or the store becomes :class:`ColdUnavailable`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from tickvault.cold import parquet
from tickvault.cold.location import TMP_DIR, ColdLocation
from tickvault.errors import StoreUnavailable
from tickvault.tick import MAX_TIME_US, MIN_TIME_US, datetime_to_us

TIME_COLUMN = parquet.COLUMNS.index("trade_time")
FOOTERS_KEPT = 512  # footers of recently read files kept per process
_FOOTERS: dict[str, pq.FileMetaData] = {}


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
    return write_stream(location, table.schema, [table], symbol, day, relative=relative)


def write_stream(
    location: ColdLocation,
    file_schema: pa.Schema,
    batches: Iterable[pa.Table],
    symbol: str,
    day: date,
    *,
    relative: str | None = None,
) -> str:
    """Write *batches* (in trade-id order) as a new file of *symbol*'s *day*, one row group in
    memory at a time; return its path relative to the root.

    The temporary file is named after the day (:meth:`ColdLocation.temp_file`): the caller
    holds the day's lock while writing, so :func:`tickvault.cold.store.tidy` can tell it is live.
    """
    final = location.absolute(relative) if relative else location.new_file(symbol, day)
    temp = location.temp_file(symbol, day)
    fs = location.filesystem
    with unavailable_on_error(location, f"writing {symbol} {day}"):
        fs.create_dir(temp.rsplit("/", 1)[0], recursive=True)
        fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        if location.is_local:
            try:
                with open(temp, "wb") as out:
                    parquet.write_batches(file_schema, batches, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, final)
            except BaseException:
                delete_quietly(location, location.relative(temp))  # a kill leaves it to tidy
                raise
            _fsync_dir(final.rsplit("/", 1)[0])
        else:
            try:
                with fs.open_output_stream(temp) as out:
                    parquet.write_batches(file_schema, batches, out)
                fs.move(temp, final)
            finally:
                delete_quietly(location, location.relative(temp))
    return location.relative(final)


def temp_files(location: ColdLocation) -> list[str]:
    """Return the temporary files present (relative paths); none when it cannot tell."""
    selector = pafs.FileSelector(location.absolute(TMP_DIR), recursive=True, allow_not_found=True)
    try:
        infos = location.filesystem.get_file_info(selector)
    except OSError:
        return []
    return [location.relative(i.path) for i in infos if i.type == pafs.FileType.File]


def read_batches(location: ColdLocation, relative: str) -> Iterator[pa.Table]:
    """Yield the trades of one file a row group at a time."""
    with (
        unavailable_on_error(location, f"reading {relative}"),
        location.filesystem.open_input_file(location.absolute(relative)) as source,
    ):
        parquet_file = pq.ParquetFile(source)
        for group in range(parquet_file.num_row_groups):
            yield parquet_file.read_row_group(group)


def file_schema(location: ColdLocation, relative: str) -> pa.Schema:
    """Return the Arrow schema of one file (its footer only)."""
    with (
        unavailable_on_error(location, f"reading {relative}"),
        location.filesystem.open_input_file(location.absolute(relative)) as source,
    ):
        return pq.read_schema(source)


def read_file(
    location: ColdLocation,
    relative: str,
    start_us: int | None = None,
    end_us: int | None = None,
) -> pa.Table:
    """Return the trades of one file, only those with start <= trade_time < end if given.

    Only the row groups whose time statistics meet the range are read, and the file's footer
    is kept per process (a path is never rewritten: a new file gets a new name).
    """
    path = location.absolute(relative)
    lo = MIN_TIME_US if start_us is None else start_us
    hi = MAX_TIME_US if end_us is None else end_us
    with (
        unavailable_on_error(location, f"reading {relative}"),
        location.filesystem.open_input_file(path) as source,
    ):
        footer = _FOOTERS.get(path)
        if footer is None:
            footer = pq.read_metadata(source)
            if len(_FOOTERS) >= FOOTERS_KEPT:
                _FOOTERS.pop(next(iter(_FOOTERS)))
            _FOOTERS[path] = footer
        groups = [g for g in range(footer.num_row_groups) if _meets(footer.row_group(g), lo, hi)]
        parquet_file = pq.ParquetFile(source, metadata=footer)
        table = parquet_file.read_row_groups(groups) if groups else None
    if table is None:
        return parquet_file.schema_arrow.empty_table()
    if start_us is None and end_us is None:
        return table
    times = pc.cast(table["trade_time"], pa.int64())
    return table.filter(pc.and_(pc.greater_equal(times, lo), pc.less(times, hi)))


def _meets(group: pq.RowGroupMetaData, lo: int, hi: int) -> bool:
    """Return whether a row group's trade times may meet ``[lo, hi)`` (True without stats)."""
    stats = group.column(TIME_COLUMN).statistics
    if stats is None or not stats.has_min_max:
        return True
    first, last = (
        datetime_to_us(v) if isinstance(v, datetime) else int(v) for v in (stats.min, stats.max)
    )
    return first < hi and last >= lo


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


def file_metadata(location: ColdLocation, relative: str) -> pq.FileMetaData:
    """Return the Parquet footer of one file (row groups and their statistics)."""
    with (
        unavailable_on_error(location, f"reading {relative}"),
        location.filesystem.open_input_file(location.absolute(relative)) as source,
    ):
        return pq.read_metadata(source)


def read_column(location: ColdLocation, relative: str, column: str) -> pa.Array:
    """Return one column of one file (that column only read)."""
    with (
        unavailable_on_error(location, f"reading {relative}"),
        location.filesystem.open_input_file(location.absolute(relative)) as source,
    ):
        return pq.ParquetFile(source).read(columns=[column])[column].combine_chunks()
