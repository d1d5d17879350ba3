"""The import's column path gives the store exactly what the row path gives it, or steps aside.

Every block below goes through both :func:`~tickvault_writer.archive.columns.read_block` and
the exact path (``FileReader`` then ``prepare``): when the column path takes a block, its COPY
stream and aggregate parameters must be the row path's to the byte; when a block holds anything
it cannot vouch for, it must return None (the caller then reads it row by row).
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from pathlib import Path

import pytest
from tests.support.paths import TRADE_RECORDINGS

from tickvault.tick import Tick
from tickvault_writer.archive.chunks import FileShape, chunks
from tickvault_writer.archive.columns import ArchiveRows, read_block
from tickvault_writer.archive.rows import FileReader
from tickvault_writer.prepare import prepare
from tickvault_writer.store import TickRows

RECEIVED = 1_800_000_000_000_000
T0 = 1_735_689_600_000_000  # 2025-01-01, µs


def _line(trade_id: int, price: str, qty: str, time: int, maker: bool = False) -> str:
    return f"{trade_id},{price},{qty},0.1,{time},{maker},True"


def _exact(block: bytes, symbol: str, micros: bool) -> list[Tick]:
    reader = FileReader(symbol, RECEIVED, micros=micros)
    return list(reader.ticks(io.StringIO(block.decode(), newline="")))


def _assert_same(lines: list[str], symbol: str = "BTCUSDT", micros: bool = True) -> None:
    block = ("\n".join(lines) + "\n").encode()
    rows = read_block(block, symbol, RECEIVED, micros)
    assert rows is not None, "the column path should take this block"
    ticks = _exact(block, symbol, micros)
    expected = prepare(ticks)
    got = rows.prepared()
    assert got.copy_data == expected.copy_data
    assert got.params == expected.params
    assert (got.candles, got.levels) == (expected.candles, expected.levels)
    assert rows.ticks() == ticks
    assert rows.trade_ids() == [t.trade_id for t in ticks]
    assert rows.hours() == {t.trade_time - t.trade_time % 3_600_000_000 for t in ticks}


def _recorded(path: Path) -> tuple[str, list[str]]:
    """Return a real trade recording as the archive's millisecond rows."""
    lines = []
    with gzip.open(path, "rt") as fh:
        for raw in fh:
            data = json.loads(raw.split(" ", 1)[1])["data"]
            lines.append(_line(data["t"], data["p"], data["q"], data["T"], data["m"]))
    return data["s"], lines


@pytest.mark.parametrize("path", TRADE_RECORDINGS, ids=lambda p: p.name.split("_")[2])
def test_real_trades_come_out_identical_to_the_row_path(path: Path) -> None:
    symbol, lines = _recorded(path)
    for start in range(0, len(lines), 7000):  # blocks of several minutes each
        _assert_same(lines[start : start + 7000], symbol, micros=False)


def test_generated_trades_with_extreme_numbers_come_out_identical() -> None:
    rng = random.Random(7)
    lines = []
    t = T0
    for i in range(5000):
        t += rng.choice((0, 0, 1, 999, 250_000, 61_000_000))
        whole = rng.choice(("0", "1", "99999999", "1234567890", str(rng.randrange(10**9))))
        price = f"{whole}.{rng.randrange(10**8):08d}"
        qty = (
            f"{rng.choice(('0', '3', '9999999999'))}.{rng.choice((0, 1, rng.randrange(10**8))):08d}"
        )
        lines.append(_line(10**12 + i, price, qty, t, rng.random() < 0.5))
    _assert_same(lines)


@pytest.mark.parametrize(
    ("price", "qty"),
    [("0", "0"), ("7", "12"), ("0.5", "100.25"), ("999999999999.000001", "0.000000000001")],
)
def test_other_scales_come_out_identical(price: str, qty: str) -> None:
    _assert_same([_line(1 + i, price, qty, T0 + i * 7_000_000) for i in range(40)])


@pytest.mark.parametrize(
    "odd",
    [
        _line(3, "60000.00000000", "0.1", T0 + 2),  # another scale
        _line(3, "060000.0000000", "0.10000000", T0 + 2),  # a leading zero
        _line(3, "60000.00000000", "-0.10000000", T0 + 2),  # refused by the row path
        _line(3, "60000.00000000", "0.10000000", (T0 + 2) // 1000),  # milliseconds
        _line(3, "60000.00000000", "0.10000000", T0 - 5),  # earlier than the row before
        _line(1, "60000.00000000", "0.10000000", T0 + 2),  # an id again
        "3,60000.00000000,0.10000000,0.1,1735689600000002,maybe,True",
        '3,"60000.00000000",0.10000000,0.1,1735689600000002,False,True',
        "3,60000.00000000,0.10000000,0.1,1735689600000002,False",
        " 3,60000.00000000,0.10000000,0.1,1735689600000002,False,True",
        "3,60000.00000000,0.10000000,0.1\r1,1735689600000002,False,True",
        "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match",
        "١,60000.00000000,0.10000000,0.1,1735689600000002,False,True",
        "\ufeff3,60000.00000000,0.10000000,0.1,1735689600000002,False,True",
    ],
)
def test_a_block_the_columns_cannot_vouch_for_is_left_to_the_row_path(odd: str) -> None:
    good = [_line(1, "60000.00000000", "0.10000000", T0), _line(2, "6.00000000", "2.00000000", T0)]
    block = ("\n".join([*good, odd]) + "\n").encode()
    assert read_block(block, "BTCUSDT", RECEIVED, True) is None
    _assert_same(good)


def _zip(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-trades.csv", text)
    return path


def test_a_block_starting_with_a_byte_order_mark_is_left_to_the_row_path() -> None:
    block = ("\ufeff" + _line(1, "60000.00000000", "0.10000000", T0) + "\n").encode()
    assert read_block(block, "BTCUSDT", RECEIVED, True) is None
    assert _exact(block, "BTCUSDT", True) == []  # a first line that is not a trade: a header


def test_a_file_reads_the_same_whatever_path_each_block_takes(tmp_path: Path) -> None:
    lines = [
        _line(i, f"{60000 + i % 7}.00000000", "0.10000000", T0 + i * 9000) for i in range(1, 40001)
    ]
    lines[25_000] = _line(25_000, "60000.00000000", "-1", T0)  # one refused row, mid-file
    text = "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\r\n" + "\r\n".join(lines)
    shape = FileShape()
    got = list(chunks(_zip(tmp_path / "f.zip", text), "BTCUSDT", RECEIVED, shape))
    kinds = [type(c.rows) for c in got]
    assert ArchiveRows in kinds and TickRows in kinds  # by columns, and the refused row's by row
    ticks = [t for c in got for t in c.rows.ticks()]
    reader = FileReader("BTCUSDT", RECEIVED)
    assert ticks == list(reader.ticks(io.StringIO(text, newline="")))
    assert [i for c in got for i in c.ids] == [t.trade_id for t in ticks]
    assert (shape.header, shape.micros, shape.refused) == (True, True, 1)
    assert shape.first_refusal == reader.first_refusal
    for chunk in got:
        assert chunk.rows.prepared() == prepare(list(chunk.rows.ticks()))
