"""Lookups in cold files read only some row groups, and answer exactly what a read of every
trade would: the nearest trade on either side of an instant, and a page after a keyset
position, whatever the row-group size and wherever trades of one instant are split."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyarrow import fs as pafs

from tickvault.cold import parquet, read, storage
from tickvault.cold.location import ColdLocation
from tickvault.cold.manifest import ColdFile

DAY_US = 86_400_000_000
START = int(datetime(2024, 8, 8, tzinfo=UTC).timestamp() * 1_000_000)
Row = tuple[int, Decimal, Decimal, int, bool]


def _day_rows(first_id: int, start_us: int, count: int) -> list[Row]:
    """Trades three to a millisecond, with a quiet minute every 50 trades."""
    return [
        (
            first_id + i,
            Decimal("61000.00") + i % 7,
            Decimal("0.00100000") * (1 + i % 5),
            start_us + (i // 3) * 1000 + (i // 50) * 60_000_000,
            i % 2 == 0,
        )
        for i in range(count)
    ]


@pytest.fixture(params=[4, 16, 65_536], ids=["groups-of-4", "groups-of-16", "one-group"])
def stored(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[ColdLocation, list[ColdFile], list[Row]]:
    """Two days of trades, one file each, in row groups of the given size."""
    monkeypatch.setattr(parquet, "ROW_GROUP", request.param)
    location = ColdLocation(pafs.LocalFileSystem(), str(tmp_path), f"file://{tmp_path}")
    rows, files = [], []
    for n, day in enumerate((date(2024, 8, 8), date(2024, 8, 9))):
        day_rows = _day_rows(1 + n * 1000, START + n * DAY_US, 301)
        path = storage.write_file(location, parquet.table_of(day_rows), "BTCUSDT", day)
        meta = storage.file_metadata(location, path)
        assert meta.num_row_groups == -(-301 // request.param)
        first, last = day_rows[0], day_rows[-1]
        when = [datetime.fromtimestamp(r[3] / 1e6, tz=UTC) for r in (first, last)]
        files.append(ColdFile("BTCUSDT", day, path, 301, first[0], last[0], *when, ""))
        rows += day_rows
    return location, files, rows


def _instants(rows: list[Row]) -> list[int]:
    times = sorted({r[3] for r in rows})
    return [t + d for t in times[::7] + times[-3:] for d in (-1, 0, 1)]


def test_the_nearest_trade_either_side_is_the_one_a_full_read_finds(
    stored: tuple[ColdLocation, list[ColdFile], list[Row]],
) -> None:
    location, files, rows = stored
    for at in _instants(rows):
        before = max(((r[3], r[0]) for r in rows if r[3] < at), default=None)
        after = min(((r[3], r[0]) for r in rows if r[3] > at), default=None)
        for direction, expected in ((read.Direction.BEFORE, before), (read.Direction.AFTER, after)):
            got = read.nearest(location, files, at, direction)
            found = None if got is None else (got["trade_id"][0].as_py())
            assert found == (None if expected is None else expected[1]), (at, direction)
            if got is not None:
                assert got.num_rows == 1


def test_a_page_after_any_position_is_the_one_a_full_read_finds(
    stored: tuple[ColdLocation, list[ColdFile], list[Row]],
) -> None:
    location, files, rows = stored
    ordered = sorted(rows, key=lambda r: (r[3], r[0]))
    for at in _instants(rows)[::4]:
        for limit in (1, 5, 64, 1000):
            start, end = at - 90_000_000, at + DAY_US
            for position in ((start, -1), (at, 1150), (at, 0)):
                expected = [
                    r[0] for r in ordered if start <= r[3] < end and (r[3], r[0]) > position
                ][:limit]
                got = read.first_rows(location, files, start, end, position, limit)
                ids = [] if got is None else got["trade_id"].to_pylist()
                assert ids == expected, (at, limit, position)
                if got is not None:
                    back = [
                        (i, p, q)
                        for i, p, q in zip(
                            ids, got["price"].to_pylist(), got["quantity"].to_pylist(), strict=True
                        )
                    ]
                    by_id = {r[0]: r for r in rows}
                    assert back == [(i, by_id[i][1], by_id[i][2]) for i in ids]
