"""An import's blocks in the store: candles and levels exactly those of the trades stored.

The column path sends the levels of the minutes a block holds whole by ``COPY`` when its trades
were all new, and the upsert takes them all as soon as one is stored already; either way the
candles and levels must equal their recomputation from ``trades`` (what the writer keeps).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.integration.writer.writer_support import (
    assert_candles_recomputed,
    recorded_ticks,
    stored_trades,
)

from tickvault.tick import Tick
from tickvault_writer.archive.chunks import FileShape, chunks
from tickvault_writer.archive.columns import ArchiveRows
from tickvault_writer.batch import Batch
from tickvault_writer.store import PgStore

RECEIVED = 1_800_000_000_000_000


@pytest.fixture
def store(clean_db: Engine, database_url: str) -> Iterator[PgStore]:
    made = PgStore(database_url)
    yield made
    made.close()


def _archive(path: Path, ticks: list[Tick]) -> Path:
    """Write *ticks* as a spot trades zip (milliseconds, as before 2025)."""
    lines = [
        f"{t.trade_id},{t.price},{t.quantity},0,{t.trade_time // 1000},{t.is_buyer_maker},True"
        for t in ticks
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-trades.csv", "\n".join(lines) + "\n")
    return path


def _import(store: PgStore, path: Path) -> tuple[int, bool]:
    """Store the zip's blocks as the import does; return (trades new, all by columns)."""
    inserted = 0
    columns = True
    for chunk in chunks(path, "BTCUSDT", RECEIVED, FileShape()):
        columns = columns and isinstance(chunk.rows, ArchiveRows)
        assert chunk.rows.prepared().levels_copy is not None
        inserted += store.write_rows(chunk.rows).inserted
    return inserted, columns


def _btc() -> list[Tick]:
    """The real BTCUSDT recording at whole milliseconds (as the archive has it then)."""
    ticks = recorded_ticks()["BTCUSDT"]
    return [
        Tick(
            t.symbol,
            t.trade_id,
            t.price,
            t.quantity,
            t.trade_time - t.trade_time % 1000,
            t.trade_time - t.trade_time % 1000,
            t.is_buyer_maker,
            RECEIVED,
        )
        for t in ticks
    ]


def test_a_new_range_copies_its_levels_and_matches_its_trades(
    store: PgStore, clean_db: Engine, tmp_path: Path
) -> None:
    ticks = _btc()
    inserted, columns = _import(store, _archive(tmp_path / "a.zip", ticks))
    assert columns and inserted == len(ticks) == len(stored_trades(clean_db))
    assert_candles_recomputed(clean_db)


def test_levels_already_stored_send_the_block_to_the_upsert(
    store: PgStore, clean_db: Engine, tmp_path: Path
) -> None:
    ticks = _btc()
    middle = len(ticks) // 2
    repaired = ticks[middle : middle + 50]  # a hole of the file, repaired from REST first
    store.write(Batch((), tuple(repaired), (), (), (), ()))
    rest = ticks[:middle] + ticks[middle + 50 :]
    inserted, _ = _import(store, _archive(tmp_path / "b.zip", rest))
    assert inserted == len(rest) and len(stored_trades(clean_db)) == len(ticks)
    assert_candles_recomputed(clean_db)


def test_trades_already_stored_are_counted_once(
    store: PgStore, clean_db: Engine, tmp_path: Path
) -> None:
    ticks = _btc()
    store.write(Batch((), tuple(ticks[5000:5300]), (), (), (), ()))  # live capture got these
    inserted, _ = _import(store, _archive(tmp_path / "c.zip", ticks))
    assert inserted == len(ticks) - 300 and len(stored_trades(clean_db)) == len(ticks)
    assert_candles_recomputed(clean_db)
