"""Every real Binance trade, stored through the models, reads back exactly as Binance sent it,
and storing it again changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql import insert
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.codec import from_fields, to_fields
from tickvault.db.models import Trade
from tickvault.db.partitions import TRADES, ensure_partitions
from tickvault.tick import Tick, us_to_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded() -> list[RecordedTrade]:
    trades = [t for by_symbol in all_recorded_trades().values() for t in by_symbol]
    assert len(trades) == 19_904 + 14_515  # both recordings, per shared/data/binance/SOURCES.md
    return trades


def as_tick(trade: RecordedTrade) -> Tick:
    """Normalize a recorded trade the way the collector does, then pass it through the stream."""
    decoded = from_fields(to_fields(trade.tick()))
    assert isinstance(decoded, Tick)
    return decoded


def row(tick: Tick) -> dict[str, Any]:
    return {
        "symbol": tick.symbol,
        "trade_id": tick.trade_id,
        "price": Decimal(tick.price),
        "quantity": Decimal(tick.quantity),
        "trade_time": us_to_datetime(tick.trade_time),
        "event_time": us_to_datetime(tick.event_time),
        "is_buyer_maker": tick.is_buyer_maker,
        "received_at": us_to_datetime(tick.received_at),
    }


def store(engine: Engine, ticks: Sequence[Tick]) -> int:
    """Insert *ticks* the way the models allow; return how many rows were new."""
    rows = [row(t) for t in ticks]
    statement = insert(Trade).on_conflict_do_nothing().returning(Trade.trade_id)
    with engine.begin() as conn:
        ensure_partitions(conn, TRADES, (r["trade_time"] for r in rows))
        # RETURNING counts the rows really inserted, batch by batch (insertmanyvalues).
        return len(conn.execute(statement, rows).all())


def read_all(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT symbol, trade_id, price::text, quantity::text, trade_time, event_time,"
                " is_buyer_maker, received_at, tableoid::regclass::text"
                " FROM trades ORDER BY symbol, trade_id"
            )
        )
        return [tuple(r) for r in rows]


@pytest.fixture
def stored_once(clean_db: Engine, recorded: list[RecordedTrade]) -> list[Tick]:
    """Every recorded trade as a tick, stored into an empty table: one new row each."""
    ticks = [as_tick(t) for t in recorded]
    assert store(clean_db, ticks) == len(recorded)
    return ticks


def test_every_recorded_trade_reads_back_exactly_and_only_once(
    clean_db: Engine, recorded: list[RecordedTrade], stored_once: list[Tick]
) -> None:
    stored = read_all(clean_db)
    expected = sorted(recorded, key=lambda t: (t.symbol, t.trade_id))
    assert len(stored) == len(expected)
    mismatches = []
    for got, want in zip(stored, expected, strict=True):
        symbol, trade_id, price, quantity, trade_time, event_time, maker, _, partition = got
        wanted_time = EPOCH + timedelta(milliseconds=want.trade_time_ms)
        if (
            (symbol, trade_id, price, quantity, maker)
            != (want.symbol, want.trade_id, want.price, want.quantity, want.is_buyer_maker)
            or trade_time != wanted_time
            or event_time != EPOCH + timedelta(milliseconds=want.event_time_ms)
            or partition != TRADES.name(TRADES.floor(wanted_time))
        ):
            mismatches.append((got, want.raw))
    assert mismatches == []
    # The recording's first trade, spelled out: the trailing zeros survive.
    assert stored[0][:4] == ("BTCUSDT", 3735683259, "61837.63000000", "0.02000000")
    assert {r[8] for r in stored} == {"trades_p2024080823", "trades_p2024080900"}


def test_storing_every_trade_again_changes_nothing(
    clean_db: Engine, stored_once: list[Tick]
) -> None:
    before = read_all(clean_db)
    assert store(clean_db, stored_once) == 0
    assert store(clean_db, list(reversed(stored_once[:5000]))) == 0  # redelivered, out of order
    assert read_all(clean_db) == before


def test_a_redelivered_trade_with_other_details_keeps_the_first_copy(clean_db: Engine) -> None:
    tick = as_tick(all_recorded_trades()["ETHUSDT"][0])
    assert store(clean_db, [tick]) == 1
    # the same trade, received again by REST
    later = msgspec.structs.replace(tick, received_at=tick.received_at + 5_000_000)
    assert store(clean_db, [later]) == 0
    with clean_db.connect() as conn:
        received = conn.execute(text("SELECT received_at FROM trades")).scalars().all()
    assert received == [us_to_datetime(tick.received_at)]


def test_microsecond_trade_times_are_kept(clean_db: Engine) -> None:
    tick = Tick(
        "BTCUSDT",
        1,
        "61837.63000000",
        "0.00001000",
        1723161255342007,
        1723161255342999,
        True,
        1723161255343001,
    )
    assert store(clean_db, [tick]) == 1
    with clean_db.connect() as conn:
        got = conn.execute(
            text(
                "SELECT (extract(epoch FROM trade_time) * 1000000)::bigint,"
                " (extract(epoch FROM event_time) * 1000000)::bigint, price::text, quantity::text"
                " FROM trades"
            )
        ).one()
    assert tuple(got) == (1723161255342007, 1723161255342999, "61837.63000000", "0.00001000")
