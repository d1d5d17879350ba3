"""The replay's archive (pure parts): a history that depends only on seed, symbol and id, and
files in Binance's format with each fault."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tickvault_replay.archive import HOLE_IDS, csv_line, file_rows, parse_period, write_zip
from tickvault_replay.history import MICROS_FROM_US, US_PER_DAY, History
from tickvault_replay.symbols import spec_for

ORIGIN = MICROS_FROM_US - US_PER_DAY  # 2024-12-31


def _history(seed: int = 1) -> History:
    return History(spec_for("BTCUSDT"), seed, ORIGIN, 1, 2_000_000)  # one trade per 2 s


def test_the_history_is_a_pure_function_of_seed_symbol_and_id() -> None:
    a, b = _history(), _history()
    assert a.trade(40_000) == b.trade(40_000)
    assert _history(seed=2).trade(40_000) != a.trade(40_000)
    times = [a.time_of(i) for i in range(1, 200_000, 997)]
    assert times == sorted(times)
    assert a.time_of(10**12) > a.time_of(10**12 - 1)  # far ids cost nothing


def test_day_boundaries_hold_exactly_the_trades_of_the_day() -> None:
    h = _history()
    first, last = h.day_ids(MICROS_FROM_US, MICROS_FROM_US + US_PER_DAY)
    assert h.time_of(first - 1) < MICROS_FROM_US <= h.time_of(first)
    assert h.time_of(last) < MICROS_FROM_US + US_PER_DAY <= h.time_of(last + 1)
    assert last - first + 1 == 43_200


def test_rows_are_milliseconds_before_2025_and_microseconds_after() -> None:
    h = _history()
    before = csv_line(h.trade(2)).split(",")
    after = csv_line(h.trade(h.first_at(MICROS_FROM_US) + 5)).split(",")
    assert len(before[4]) == 13 and len(after[4]) == 16
    assert before[5] in ("True", "False") and before[6] == "True"
    assert any(
        int(csv_line(h.trade(h.first_at(MICROS_FROM_US) + i)).split(",")[4]) % 1000
        for i in range(10)
    )


def test_each_fault_shapes_the_file(tmp_path: Path) -> None:
    h, day = _history(), parse_period("2025-01-01")
    assert day is not None
    clean = list(file_rows(h, day, None, 0))
    assert [len(list(file_rows(h, day, f, 0))) for f in ("header", "truncated", "id_hole")] == [
        len(clean) + 1,
        int(len(clean) * 0.6),
        len(clean) - HOLE_IDS,
    ]
    first, fixed = list(file_rows(h, day, "replaced", 0)), list(file_rows(h, day, "replaced", 1))
    assert fixed == clean and first[:-1] == clean[:-1] and first[-1] != clean[-1]
    path = tmp_path / "f.zip"
    sha = write_zip(path, "BTCUSDT-trades-2025-01-01.csv", clean)
    assert sha == write_zip(tmp_path / "g.zip", "BTCUSDT-trades-2025-01-01.csv", clean)
    with zipfile.ZipFile(path) as z:
        assert z.read(z.namelist()[0]).decode().splitlines() == clean
