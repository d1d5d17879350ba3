"""Poison entries, gap records, the latest-price cache and its messages, health, maintenance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pytest
import redis
from sqlalchemy import Engine, text
from tests.integration.writer.conftest import drain
from tests.integration.writer.writer_support import feed, group_state, recorded_ticks
from tests.support.db import rows
from tests.support.polling import wait_until

from tickvault.codec import GapFinder, GapRecord, GapStatus, latest_from_hash, to_fields
from tickvault.tick import us_to_datetime
from tickvault_writer.__main__ import check
from tickvault_writer.maintenance import Maintenance
from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings
from tickvault_writer.store import PgStore

T0 = 1_723_161_300_000_000


def test_poison_entry_is_dead_lettered_with_reason_and_acknowledged(
    make_writer: Callable[..., Writer], redis_client: redis.Redis, clean_db: Engine
) -> None:
    writer = make_writer()
    good = recorded_ticks()["BTCUSDT"][:2]
    keys = writer.keys
    redis_client.xadd(keys.stream, to_fields(good[0]))  # type: ignore[arg-type]
    poison_id = redis_client.xadd(keys.stream, {"t2": "BTCUSDT|1|x"})
    redis_client.xadd(keys.stream, to_fields(good[1]))  # type: ignore[arg-type]

    drain(writer, redis_client)

    assert group_state(redis_client, keys) == (0, 0)
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trades")).scalar() == 2
    [(_, fields)] = redis_client.xrange(keys.dead_letter)
    assert fields[b"entry_id"] == poison_id
    assert fields[b"t2"] == b"BTCUSDT|1|x"
    assert fields[b"reason"].startswith(b"malformed trade entry")
    assert writer.metrics.dead_lettered._value.get() == 1
    assert writer.totals.dead == 1


def gap(status: GapStatus, filled_at: int | None = None) -> GapRecord:
    return GapRecord("ETHUSDT", 1520540000, 1520540004, status, T0, filled_at)


def test_gap_records_land_in_trade_gaps_and_status_only_moves_forward(
    make_writer: Callable[..., Writer], redis_client: redis.Redis, clean_db: Engine
) -> None:
    writer = make_writer()
    other = GapRecord("BTCUSDT", 10, 10, GapStatus.UNFILLABLE, T0 + 1, None, GapFinder.AUDITOR)
    feed(redis_client, writer.keys, [gap(GapStatus.DETECTED), other])
    drain(writer, redis_client)
    feed(redis_client, writer.keys, [gap(GapStatus.FILLED, T0 + 5_000_000)])
    drain(writer, redis_client)
    feed(redis_client, writer.keys, [gap(GapStatus.DETECTED), gap(GapStatus.UNFILLABLE)])
    drain(writer, redis_client)

    assert rows(
        clean_db,
        "SELECT symbol, first_id, last_id, status, found_by, detected_at, filled_at "
        "FROM trade_gaps ORDER BY symbol",
    ) == [
        ("BTCUSDT", 10, 10, "unfillable", "auditor", us_to_datetime(T0 + 1), None),
        (
            "ETHUSDT",
            1520540000,
            1520540004,
            "filled",
            "collector",
            us_to_datetime(T0),
            us_to_datetime(T0 + 5_000_000),
        ),
    ]


def test_cache_only_moves_forward_and_announces_each_move(
    make_writer: Callable[..., Writer], redis_client: redis.Redis, clean_db: Engine
) -> None:
    writer = make_writer()
    ticks = recorded_ticks()["ETHUSDT"][:10]
    pubsub = redis_client.pubsub()
    pubsub.subscribe(writer.keys.latest_channel)
    wait_until(lambda: pubsub.get_message(timeout=0.1) is not None, 5, "the subscription")

    feed(redis_client, writer.keys, ticks[5:])  # ids 5..9: the cache moves to 9
    drain(writer, redis_client)
    feed(redis_client, writer.keys, ticks[:5])  # older trades arrive late: no move
    drain(writer, redis_client)

    cached = latest_from_hash("ETHUSDT", redis_client.hgetall(writer.keys.latest("ETHUSDT")))
    assert cached is not None and cached.trade_id == ticks[9].trade_id
    assert cached.price == ticks[9].price and cached.trade_time == ticks[9].trade_time
    messages = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        messages.append(msgspec.json.decode(message["data"]))
    pubsub.close()
    assert [m["trade_id"] for m in messages] == [ticks[9].trade_id]
    assert messages[0]["price"] == ticks[9].price
    assert writer.metrics.cache_updates._value.get() == 1


def test_check_exits_0_only_while_a_fresh_heartbeat_exists(
    make_writer: Callable[..., Writer],
    writer_settings: Callable[..., WriterSettings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = writer_settings(writer_heartbeat_ttl_s=0.3)
    assert check(settings) == 1
    writer = make_writer(settings, consumer="replica-x")
    writer.upkeep.beat()
    assert check(settings) == 0
    assert check(writer_settings(writer_consumer="replica-x")) == 0
    assert check(writer_settings(writer_consumer="replica-y")) == 1
    wait_until(lambda: check(settings) == 1, 5, "the heartbeat to expire")
    assert "no fresh writer heartbeat" in capsys.readouterr().out


def test_maintenance_runs_in_one_replica_at_a_time_and_creates_partitions_ahead(
    writer_settings: Callable[..., WriterSettings], redis_client: redis.Redis, clean_db: Engine
) -> None:
    settings = writer_settings(retention_hours=0, writer_maintenance_interval_s=300)
    first, second = Maintenance(settings, redis_client), Maintenance(settings, redis_client)
    assert first._lease.acquire()  # a pass in progress in the first replica
    assert second.run_once() is False
    assert first._lease.release()
    assert second.run_once() is True
    assert first.run_once() is True  # the lease was released after the pass
    with clean_db.connect() as conn:
        names = set(
            conn.execute(
                text("SELECT relname FROM pg_class WHERE relname LIKE 'candles_1m_p%'")
            ).scalars()
        )
    assert f"candles_1m_p{datetime.now(UTC):%Y%m%d}" in names


def test_a_new_connection_remembers_existing_partitions_so_batches_skip_creating_them(
    make_writer: Callable[..., Writer],
    redis_client: redis.Redis,
    clean_db: Engine,
    database_url: str,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:10]
    writer = make_writer()
    feed(redis_client, writer.keys, ticks)
    drain(writer, redis_client)
    store = PgStore(database_url)
    try:
        store._connection()
        hour = ticks[0].trade_time - ticks[0].trade_time % 3_600_000_000
        day = ticks[0].trade_time - ticks[0].trade_time % 86_400_000_000
        assert ("trades", hour) in store._known
        assert ("day", day) in store._known
    finally:
        store.close()
