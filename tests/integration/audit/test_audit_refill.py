"""The gap auditor restores exactly the trades missing from PostgreSQL, from REST.

Both real recordings are stored through a writer, then rows are deleted from ``trades`` (here,
in the test only: production never deletes rows) and the auditor runs against the replay
exchange's REST endpoints. It must publish exactly the deleted trades (``source=audit``) and
one ``found_by=auditor`` gap record per hole, and once a writer has stored them ``trades``
equals the recordings again, byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text
from tests.integration.audit.audit_support import drain, feed, stored
from tests.private_servers import ReplayProcess
from tests.support.recordings import RecordedTrade

from tickvault.codec import GapRecord, GapStatus, from_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Source, Tick
from tickvault_collector.gaps.audit_once import audit_once
from tickvault_collector.settings import CollectorSettings
from tickvault_writer.service import Writer


def _delete(engine: Engine, symbol: str, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM trades WHERE symbol = :s AND trade_id = ANY(:ids)"),
            {"s": symbol, "ids": ids},
        )


def _published_after(
    client: redis.Redis,
    keys: RedisKeys,
    after: bytes,
) -> list[Tick | GapRecord]:
    return [from_fields(f) for _, f in client.xrange(keys.stream, min=b"(" + after)]


def _last_entry(client: redis.Redis, keys: RedisKeys) -> bytes:
    entries = client.xrevrange(keys.stream, count=1)
    return bytes(entries[0][0]) if entries else b"0-0"


@pytest.fixture
def run_audit(
    make_settings: Callable[..., Any],
    exchange: ReplayProcess,
    redis_prefix: str,
    database_url: str,
) -> Callable[[], int]:
    """Run ``tickvault-collector --audit-once`` against the replay exchange; give its status."""

    def run() -> int:
        settings = make_settings(
            CollectorSettings,
            binance_rest_url=exchange.rest_url,
            symbols="BTCUSDT,ETHUSDT",
            collector_metrics_port=0,
        )
        return asyncio.run(audit_once(settings))

    return run


def test_auditor_restores_exactly_the_rows_deleted_from_postgresql(
    stored_recordings: Writer,
    clean_db: Engine,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: dict[str, list[RecordedTrade]],
    run_audit: Callable[[], int],
) -> None:
    keys = RedisKeys(redis_prefix)
    full = stored(clean_db)
    btc = [t.trade_id for t in recorded["BTCUSDT"]]
    eth = [t.trade_id for t in recorded["ETHUSDT"]]
    # A run, singles, both sides of the 00:00 partition edge, and BTC's last seven (the tail).
    edge = next(
        i
        for i, t in enumerate(recorded["BTCUSDT"])
        if t.trade_time_ms // 3_600_000 != recorded["BTCUSDT"][0].trade_time_ms // 3_600_000
    )
    gone = {
        "BTCUSDT": sorted(
            {*btc[100:150], btc[500], btc[502], *btc[edge - 3 : edge + 2], *btc[-7:]}
        ),
        "ETHUSDT": [eth[1], eth[7000]],
    }
    for symbol, ids in gone.items():
        _delete(clean_db, symbol, ids)
    # A gap the collector saw and whose trades did arrive: the auditor closes its record.
    feed(
        redis_client,
        keys,
        [GapRecord("ETHUSDT", eth[20], eth[29], GapStatus.DETECTED, 1_700_000_000_000_000)],
    )
    drain(stored_recordings, redis_client, keys)
    before = _last_entry(redis_client, keys)

    assert run_audit() == 0

    published = _published_after(redis_client, keys, before)
    ticks = [e for e in published if isinstance(e, Tick)]
    assert sorted((t.symbol, t.trade_id) for t in ticks) == sorted(
        (s, i) for s, ids in gone.items() for i in ids
    )
    assert {t.source for t in ticks} == {Source.AUDIT}
    assert all((t.price, t.quantity) == full[(t.symbol, t.trade_id)] for t in ticks)
    records = [e for e in published if isinstance(e, GapRecord)]
    holes = {
        ("BTCUSDT", btc[100], btc[149]),
        ("BTCUSDT", btc[500], btc[500]),
        ("BTCUSDT", btc[502], btc[502]),
        ("BTCUSDT", btc[edge - 3], btc[edge + 1]),
        ("BTCUSDT", btc[-7], btc[-1]),
        ("ETHUSDT", eth[1], eth[1]),
        ("ETHUSDT", eth[7000], eth[7000]),
    }
    auditor = {
        (r.symbol, r.first_id, r.last_id, r.status) for r in records if r.found_by == "auditor"
    }
    assert auditor == {(*h, s) for h in holes for s in (GapStatus.DETECTED, GapStatus.FILLED)}

    drain(stored_recordings, redis_client, keys)
    assert stored(clean_db) == full
    with clean_db.connect() as conn:
        gaps = set(
            conn.execute(
                text("SELECT symbol, first_id, last_id, status, found_by FROM trade_gaps")
            ).all()
        )
    assert gaps == {(*h, "filled", "auditor") for h in holes} | {
        ("ETHUSDT", eth[20], eth[29], "filled", "collector")
    }


def test_second_audit_finds_nothing_and_publishes_no_trade(
    stored_recordings: Writer,
    clean_db: Engine,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_audit: Callable[[], int],
) -> None:
    keys = RedisKeys(redis_prefix)
    before = _last_entry(redis_client, keys)
    assert run_audit() == 0
    assert _published_after(redis_client, keys, before) == []


def test_audit_does_nothing_while_another_auditor_holds_the_lease(
    redis_client: redis.Redis,
    redis_prefix: str,
    database_url: str,
    run_audit: Callable[[], int],
) -> None:
    keys = RedisKeys(redis_prefix)
    redis_client.set(keys.audit_lease, b"someone-else", ex=60)
    assert run_audit() == 3
    assert redis_client.get(keys.audit_lease) == b"someone-else"
    assert redis_client.exists(keys.stream) == 0
