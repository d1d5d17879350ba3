"""The whole market: hundreds of synthetic symbols with ``ALL``, listings, halts, delistings,
dropped frames and a cut connection, through the writer into PostgreSQL, within Binance's
REST limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text
from tests.private_servers import Services, replay_process, stack_env
from tests.support.market import exchange, holes, owed, seed_positions, stored
from tests.support.polling import wait_until

from tickvault.keys import RedisKeys
from tickvault.symbols import Status, parse_status_value

MARKET = ("--synthetic-market", "300", "--seed", "3", "--top-rate", "40", "--ping-interval", "2")
NEW = "NEWCOINUSDT"


@pytest.fixture
def services(
    database_url: str, redis_url: str, redis_prefix: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Services]:
    env = stack_env(
        database_url,
        redis_url,
        redis_prefix,
        SYMBOLS="ALL",
        COLLECTOR_STREAMS_PER_CONNECTION="100",
        COLLECTOR_SYMBOLS_REFRESH_S="5",
        COLLECTOR_TAIL_GRACE_S="2",
        COLLECTOR_SILENCE_TIMEOUT_S="5",
        COLLECTOR_BACKOFF_MAX_S="2",
        COLLECTOR_SUMMARY_INTERVAL_S="5",
        COLLECTOR_AUDIT_INTERVAL_S="0",
    )
    made = Services(env, tmp_path)
    yield made
    made.kill()


def statuses(client: redis.Redis, prefix: str) -> dict[str, Status]:
    """Return the status the collector reports per symbol in the symbols hash."""
    out = {}
    for name, value in client.hgetall(RedisKeys(prefix).symbols).items():
        parsed = parse_status_value(value)
        if parsed is not None:
            out[name.decode()] = parsed[0]
    return out


def by_rate(market: dict[str, dict[str, Any]]) -> list[str]:
    """Return the trading symbols, busiest first."""
    trading = [v for v in market.values() if v["status"] == "TRADING"]
    return [v["symbol"] for v in sorted(trading, key=lambda v: -v["rate"])]


def test_the_whole_market_is_captured_exactly_once_through_listings_halts_and_cuts(
    services: Services, redis_client: redis.Redis, redis_prefix: str, clean_db: Engine
) -> None:
    with replay_process(*MARKET) as replay:
        market = exchange(replay)
        ranked = by_rate(market)
        halted, delisted, cut = ranked[15], ranked[25], ranked[150]
        dropped = [s for s in ranked[:40:2] if s not in (halted, delisted)]
        replay.post_faults(
            [
                {"type": "drop", "symbol": s, "fraction": 0.005, "seed": i}
                for i, s in enumerate(dropped)
            ]
        )
        marks = seed_positions(redis_client, redis_prefix, market)
        services.env["TICKVAULT_BINANCE_WS_URL"] = replay.ws_url
        services.env["TICKVAULT_BINANCE_REST_URL"] = replay.rest_url
        services.start("writer", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
        services.start("collector", "tickvault_collector")
        wait_until(lambda: len(stored(clean_db)) > 50, 60, "the first trades", interval=0.5)

        replay.set_symbol(NEW, status="TRADING", rate=4)
        replay.set_symbol(halted, status="HALT")
        replay.post_faults({"type": "abrupt_close", "stream": f"{cut.lower()}@trade"})
        wait_until(
            lambda: (
                stored(clean_db).get(delisted, (0, 0, -1))[2]
                >= exchange(replay)[delisted]["last_trade_id"]
            ),
            30,
            f"{delisted} captured up to date",
            interval=0.5,
        )
        replay.delist(delisted)
        wait_until(
            lambda: (
                statuses(redis_client, redis_prefix).get(NEW) is Status.TRADING
                and statuses(redis_client, redis_prefix).get(halted) is Status.HALT
                and statuses(redis_client, redis_prefix).get(delisted) is Status.UNLISTED
            ),
            40,
            "the listing, the halt and the delisting reported",
            interval=0.5,
        )
        replay.set_symbol(halted, status="TRADING")
        wait_until(
            lambda: statuses(redis_client, redis_prefix).get(halted) is Status.TRADING,
            30,
            "the halted symbol trading again",
            interval=0.5,
        )
        replay.clear_faults()
        time.sleep(3)  # frames in flight when the drops stopped
        final = exchange(replay)
        ranges = owed(marks, final)
        try:
            wait_until(lambda: not holes(stored(clean_db), ranges), 90, "every trade", interval=1.0)
        except AssertionError:
            missing = holes(stored(clean_db), ranges)
            raise AssertionError(
                f"{len(missing)} symbols incomplete, e.g. {dict(list(missing.items())[:5])};\n"
                + services.log("collector")[-6000:]
            ) from None
        report = replay.rest_report()
        codes = services.terminate()

    assert codes == {"writer": 0, "collector": 0}
    have = stored(clean_db)
    assert have[NEW][1] == final[NEW]["first_trade_id"], "the new listing from its first trade"
    assert len(ranges) > 80
    assert holes(have, ranges) == {}
    # what traded after the snapshot: from the position on, without a hole
    later = {s: (marks[s] + 1, marks[s]) for s in set(have) - set(ranges)}
    assert holes(have, later) == {}
    assert report["rate_limited"] == {"429": 0, "418": 0}
    assert "/api/v3/trades" not in report["endpoints"]
    with clean_db.connect() as conn:
        unfilled = conn.execute(
            text("SELECT symbol, first_id, last_id FROM trade_gaps WHERE status <> 'filled'")
        ).all()
        gaps = conn.execute(text("SELECT count(*) FROM trade_gaps")).scalar()
    assert unfilled == []
    assert gaps and gaps > 10
    log = services.log("collector")
    assert "behind the ticker" in log
