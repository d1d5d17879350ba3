"""The store's fast path (binary COPY into trades) and its fallback (ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from sqlalchemy import Engine, text
from tests.integration.writer.writer_support import (
    assert_candles_recomputed,
    recorded_ticks,
    stored_row,
    stored_trades,
)

from tickvault.tick import Source, Tick
from tickvault_writer.batch import Batch, with_prepared
from tickvault_writer.store import PgStore

T0 = 1_723_161_255_342_000


def batch_of(ticks: list[Tick], *, prepared: bool = True) -> Batch:
    ids = tuple(b"%d-0" % i for i in range(len(ticks)))
    batch = Batch(ids, tuple(ticks), ids, (), (), ())
    return with_prepared(batch) if prepared else batch


@pytest.fixture
def store(clean_db: Engine, database_url: str) -> Iterator[PgStore]:
    made = PgStore(database_url)
    yield made
    made.close()


def test_a_batch_of_new_trades_takes_the_fast_path_with_exact_candles(
    store: PgStore, clean_db: Engine
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:3000] + recorded_ticks()["ETHUSDT"][:2000]
    result = store.write(batch_of(ticks))
    assert not result.fallback
    assert (result.inserted, result.duplicates) == (5000, 0)
    stored = stored_trades(clean_db)
    assert len(stored) == 5000
    assert all(stored[(t.symbol, t.trade_id)] == stored_row(t) for t in ticks)
    assert_candles_recomputed(clean_db)


def test_a_batch_holding_a_stored_trade_falls_back_and_counts_each_trade_once(
    store: PgStore, clean_db: Engine
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:600]
    first = store.write(batch_of(ticks[:400]))
    assert not first.fallback
    # Overlaps the first batch by 100 trades (a redelivery), the rest new.
    second = store.write(batch_of(ticks[300:]))
    assert second.fallback
    assert (second.inserted, second.duplicates) == (200, 100)
    assert len(stored_trades(clean_db)) == 600
    assert_candles_recomputed(clean_db)
    # A replay of everything stores nothing and changes no candle.
    third = store.write(batch_of(ticks))
    assert (third.fallback, third.inserted, third.duplicates) == (True, 0, 600)
    assert_candles_recomputed(clean_db)
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT sum(trades) FROM candles_1m")).scalar() == 600


def test_a_trade_twice_in_one_batch_falls_back_and_is_stored_once(
    store: PgStore, clean_db: Engine
) -> None:
    ticks = recorded_ticks()["ETHUSDT"][:50]
    again = msgspec.structs.replace(ticks[10], source=Source.BACKFILL)
    result = store.write(batch_of([*ticks, again]))
    assert (result.fallback, result.inserted, result.duplicates) == (True, 50, 1)
    assert len(stored_trades(clean_db)) == 50
    assert_candles_recomputed(clean_db)


def test_a_batch_not_prepared_beforehand_is_prepared_by_the_store(
    store: PgStore, clean_db: Engine
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:100]
    result = store.write(batch_of(ticks, prepared=False))
    assert (result.fallback, result.inserted) == (False, 100)
    assert_candles_recomputed(clean_db)


def test_binary_numerics_keep_the_value_and_scale_postgresql_parses_from_the_string(
    store: PgStore, clean_db: Engine
) -> None:
    prices = [
        "0",
        "0.0",
        "1",
        "10000",
        "100000000",
        "0.0001",
        "0.00000001",
        "000123.4500",
        "99999999.99999999",
        "12345678901234567890.123456789012345678901234567890",
        "10000.00010000",
        "7.5",
        "7.50",
    ]
    # "0.0" a minute later: which of two equal lows a candle shows is arbitrary, as in SQL.
    times = [T0 + i + (60_000_000 if p == "0.0" else 0) for i, p in enumerate(prices)]
    ticks = [
        Tick("TESTUSDT", i + 1, p, p, t, t, i % 2 == 0, t, Source.WS)
        for i, (p, t) in enumerate(zip(prices, times, strict=True))
    ]
    assert not store.write(batch_of(ticks)).fallback
    with clean_db.connect() as conn:
        got = conn.execute(
            text("SELECT price::text, quantity::text FROM trades ORDER BY trade_id")
        ).all()
        want = [
            conn.execute(text("SELECT CAST(:p AS numeric)::text"), {"p": p}).scalar()
            for p in prices
        ]
    assert [tuple(r) for r in got] == [(w, w) for w in want]
    # "7.5" and "7.50" are one price level of that minute.
    assert_candles_recomputed(clean_db)
