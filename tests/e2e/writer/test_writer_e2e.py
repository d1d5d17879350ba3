"""End to end: replay exchange -> collector -> Redis Stream -> two writers -> PostgreSQL + cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine
from tests.integration.writer.writer_support import (
    assert_candles_recomputed,
    assert_stored_exactly,
    group_state,
    trade_count,
)
from tests.private_servers import Services, replayed_services
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.codec import latest_from_hash
from tickvault.keys import RedisKeys


@pytest.fixture
def services(
    database_url: str, redis_url: str, redis_prefix: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Services]:
    with replayed_services(tmp_path, database_url, redis_url, redis_prefix, speed=0) as made:
        yield made


def test_replay_collector_and_two_writers_store_every_recorded_trade_once(
    services: Services, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    keys = RedisKeys(redis_prefix)
    services.start("writer-1", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
    services.start("writer-2", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w2")
    services.start("collector", "tickvault_collector")
    wait_until(lambda: trade_count(clean_db) >= expected, 100, "every recorded trade", interval=0.2)
    wait_until(lambda: group_state(redis_client, keys) == (0, 0), 30, "the drain")
    codes = services.terminate()
    assert codes == {"writer-1": 0, "writer-2": 0, "collector": 0}

    assert_stored_exactly(clean_db, recorded)
    for symbol, trades in recorded.items():
        cached = latest_from_hash(symbol, redis_client.hgetall(keys.latest(symbol)))
        assert cached is not None
        assert (cached.trade_id, cached.price) == (trades[-1].trade_id, trades[-1].price)
    assert_candles_recomputed(clean_db, 24)
