"""Files in the cold tier: written whole and durably under a temporary name, then renamed into
place; read (optionally only a time range); deleted.

A local file is fsynced before and its directory after the rename, so a crash never leaves a
renamed file without its bytes. An object store's PUT is durable once answered; its "rename"
is a copy and a delete, so a reader listing ``trades/`` still never sees half an object. Any
failure of the filesystem or the store becomes :class:`ColdUnavailable`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
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
# Footers of recently read files kept per process, up to this many serialized bytes (a day of
# 2 million trades in row groups of 16,384 has a footer of about 70 kB).
FOOTER_BYTES_KEPT = 32 << 20
_FOOTERS: OrderedDict[str, tuple[pq.FileMetaData, list[tuple[int, int]]]] = OrderedDict()


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


def footer(location: ColdLocation, relative: str) -> pq.FileMetaData:
    """Return the Parquet footer of one file, kept per process for the next reads."""
    return _kept(location, relative)[0]


def time_spans(location: ColdLocation, relative: str) -> list[tuple[int, int]]:
    """Return each row group's first and last trade time (µs; the whole span without stats)
    in one file, from its kept footer."""
    return _kept(location, relative)[1]


def _kept(location: ColdLocation, relative: str) -> tuple[pq.FileMetaData, list[tuple[int, int]]]:
    """Return one file's footer and row-group time spans, read once per process.

    A path is never rewritten (a new file gets a new name, replaced ones are deleted), so a
    kept footer stays true. The kept footers are bounded by their bytes, the least recently
    used going first. Native threads read concurrently: a footer another thread dropped or
    added meanwhile is not an error (at worst one is read again), and the bytes are counted
    anew each time one is added.
    """
    path = location.absolute(relative)
    found = _FOOTERS.get(path)
    if found is not None:
        with suppress(KeyError):
            _FOOTERS.move_to_end(path)
        return found
    metadata = file_metadata(location, relative)
    found = metadata, [_time_span(metadata.row_group(g)) for g in range(metadata.num_row_groups)]
    _FOOTERS[path] = found
    kept = sum(m.serialized_size for m, _ in list(_FOOTERS.values()))
    while kept > FOOTER_BYTES_KEPT and len(_FOOTERS) > 1:
        try:
            _, (dropped, _) = _FOOTERS.popitem(last=False)
        except KeyError:
            break
        kept -= dropped.serialized_size
    return found


def _time_span(group: pq.RowGroupMetaData) -> tuple[int, int]:
    stats = group.column(TIME_COLUMN).statistics
    if stats is None or not stats.has_min_max:
        return MIN_TIME_US, MAX_TIME_US
    first, last = (
        datetime_to_us(v) if isinstance(v, datetime) else int(v) for v in (stats.min, stats.max)
    )
    return first, last


def read_groups(location: ColdLocation, relative: str, groups: list[int]) -> pa.Table:
    """Return the trades of some row groups of one file (its kept footer saves a read)."""
    metadata = footer(location, relative)
    with (
        unavailable_on_error(location, f"reading {relative}"),
        location.filesystem.open_input_file(location.absolute(relative)) as source,
    ):
        # an object store answers one coalesced request better than one per column chunk
        parquet_file = pq.ParquetFile(source, metadata=metadata, pre_buffer=not location.is_local)
        if not groups:
            return parquet_file.schema_arrow.empty_table()
        return parquet_file.read_row_groups(groups)


def read_file(
    location: ColdLocation,
    relative: str,
    start_us: int | None = None,
    end_us: int | None = None,
) -> pa.Table:
    """Return the trades of one file, only those with start <= trade_time < end if given.

    Only the row groups whose time statistics meet the range are read.
    """
    lo = MIN_TIME_US if start_us is None else start_us
    hi = MAX_TIME_US if end_us is None else end_us
    spans = time_spans(location, relative)
    table = read_groups(
        location, relative, [g for g, (a, b) in enumerate(spans) if a < hi and b >= lo]
    )
    if start_us is None and end_us is None:
        return table
    times = pc.cast(table["trade_time"], pa.int64())
    within = pc.and_(pc.greater_equal(times, parquet.int64(lo)), pc.less(times, parquet.int64(hi)))
    return table.filter(within)


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
