"""Reading a symbol's cold trades for a time range, from the files the manifest lists."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
from sqlalchemy import Connection

from tickvault.cold import manifest, storage
from tickvault.cold.location import ColdLocation
from tickvault.tick import MAX_TIME_US, MIN_TIME_US


def day_of(us: int) -> date:
    """Return the UTC day of an epoch-µs instant."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).date()


def listed_files(
    conn: Connection, symbol: str, start_us: int | None, end_us: int | None
) -> list[manifest.ColdFile]:
    """Return the listed files of *symbol* whose day meets ``[start, end)`` (None: open)."""
    first = day_of(MIN_TIME_US if start_us is None else start_us)
    last = day_of((MAX_TIME_US if end_us is None else end_us) - 1)
    return manifest.files_between(conn, symbol, first, last)


def read_trades(
    location: ColdLocation,
    files: list[manifest.ColdFile],
    start_us: int | None,
    end_us: int | None,
) -> pa.Table | None:
    """Return the trades of *files* with start <= trade_time < end (None: no file)."""
    tables = [storage.read_file(location, f.path, start_us, end_us) for f in files]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    wide = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
    return pa.concat_tables([t.cast(wide) for t in tables])
