"""The writer stores every real recorded trade exactly once, whatever the delivery order."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import redis
from sqlalchemy import Engine
from tests.integration.writer.conftest import drain
from tests.integration.writer.writer_support import (
    candles_match,
    feed,
    levels_match,
    recorded_ticks,
    stored_row,
    stored_trades,
)
from tests.support.db import rows

from tickvault.codec import latest_from_hash
from tickvault.tick import Tick
from tickvault_writer.service import Writer


@pytest.fixture
def writer(make_writer: Callable[..., Writer]) -> Writer:
    return make_writer()


def test_every_recorded_trade_is_stored_once_despite_shuffling_and_duplicates(
    writer: Writer, redis_client: redis.Redis, clean_db: Engine
) -> None:
    by_symbol = recorded_ticks()
    ticks = [t for ts in by_symbol.values() for t in ts]
    rng = random.Random(7)
    shuffled = ticks + rng.sample(ticks, 5000)  # 5000 duplicates
    rng.shuffle(shuffled)
    keys = writer.keys
    writer.reader.ensure_group()
    feed(redis_client, keys, shuffled)

    batches = drain(writer, redis_client)

    assert batches >= 10  # several batches, so duplicates straddle batch boundaries
    stored = stored_trades(clean_db)
    assert len(stored) == len(ticks) == 34419
    assert all(stored[(t.symbol, t.trade_id)] == stored_row(t) for t in ticks)
    assert writer.totals.inserted == len(ticks)
    assert writer.totals.duplicates == 5000
    for symbol, recorded in by_symbol.items():
        last = max(recorded, key=lambda t: t.trade_id)
        cached = latest_from_hash(symbol, redis_client.hgetall(keys.latest(symbol)))
        assert cached is not None
        assert (cached.trade_id, cached.price, cached.quantity, cached.trade_time) == (
            last.trade_id,
            last.price,
            last.quantity,
            last.trade_time,
        )
    stored_candles, recomputed = candles_match(clean_db)
    assert len(stored_candles) == 24  # 12 minutes of both symbols (23:54 .. 00:05)
    assert stored_candles == recomputed
    stored_levels, recomputed_levels = levels_match(clean_db)
    assert stored_levels == recomputed_levels
    assert len(stored_levels) > 1000


def test_first_recorded_btc_trade_is_stored_with_binance_strings(
    writer: Writer, redis_client: redis.Redis, clean_db: Engine
) -> None:
    first: Tick = recorded_ticks()["BTCUSDT"][0]
    writer.reader.ensure_group()
    feed(redis_client, writer.keys, [first])
    drain(writer, redis_client)
    assert rows(
        clean_db,
        "SELECT price::text, quantity::text, "
        "(extract(epoch FROM trade_time) * 1000)::bigint FROM trades",
    ) == [("61837.63000000", "0.02000000", 1723161255342)]
