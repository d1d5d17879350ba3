"""The collector against the replay exchange: every trade id, exactly as Binance sent it."""

from __future__ import annotations

import subprocess
import sys
import time

import redis
from tests.e2e.collector.conftest import (
    RECORDINGS,
    Capture,
    Recorded,
    Start,
    StreamContent,
    assert_exact,
    seed_resume,
    wait_for_every_trade,
)
from tests.private_servers import replay_process

from tickvault.codec import GapStatus
from tickvault.keys import RedisKeys
from tickvault.symbols import Status, parse_status_value


def test_every_trade_is_captured_at_full_speed(
    capture: Capture, redis_client: redis.Redis, redis_prefix: str
) -> None:
    content, _ = capture(["--speed", "0"], 60)
    assert content.gaps == []
    keys = RedisKeys(redis_prefix)
    assert int(redis_client.get(keys.collector_last_id("BTCUSDT"))) == 3735703162
    assert int(redis_client.get(keys.collector_last_id("ETHUSDT"))) == 1520553439


def test_every_trade_is_captured_at_recorded_pace(
    capture: Capture, redis_client: redis.Redis, redis_prefix: str, recorded: Recorded
) -> None:
    seed_resume(redis_client, redis_prefix, recorded)
    _, collector = capture(["--speed", "50", "--ping-interval", "1"], 90)
    assert "link 1 open" in collector.log()


def test_a_killed_collector_resumes_without_losing_a_trade(
    start_collector: Start,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: Recorded,
) -> None:
    stream = RedisKeys(redis_prefix).stream
    seed_resume(redis_client, redis_prefix, recorded)
    with replay_process(*RECORDINGS, "--speed", "40", "--ping-interval", "1") as replay:
        first = start_collector(replay)
        first.read_until(
            redis_client,
            stream,
            StreamContent(),
            lambda c: sum(len(t) for t in c.ticks.values()) >= 5000,
            30,
            "5,000 trades",
            0.1,
        )
        first.kill()
        time.sleep(1.0)  # trades keep happening on the exchange while nobody listens
        second = start_collector(replay)
        content = wait_for_every_trade(redis_client, redis_prefix, recorded, second, 90)
        assert second.terminate() == 0
    assert_exact(content, recorded)
    assert "resumes after trade id" in second.log()
    assert any(g.status is GapStatus.FILLED for g in content.gaps)


def test_a_symbol_the_exchange_does_not_list_is_reported_and_the_others_are_captured(
    start_collector: Start,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: Recorded,
) -> None:
    seed_resume(redis_client, redis_prefix, recorded)
    with replay_process(*RECORDINGS, "--speed", "0") as replay:
        collector = start_collector(replay, symbols="BTCUSDT,NOSUCHCOIN,ETHUSDT")
        content = wait_for_every_trade(redis_client, redis_prefix, recorded, collector, 60)
        reported = redis_client.hgetall(RedisKeys(redis_prefix).symbols)
        assert collector.terminate() == 0
    assert_exact(content, recorded)
    assert {k: parse_status_value(v)[0] for k, v in reported.items()} == {  # type: ignore[index]
        b"BTCUSDT": Status.TRADING,
        b"ETHUSDT": Status.TRADING,
        b"NOSUCHCOIN": Status.UNLISTED,
    }
    typo = [line for line in collector.log().splitlines() if "NOSUCHCOIN" in line]
    assert "ERROR" in typo[0] and "does not list" in typo[0]


def test_check_reports_a_running_collector_and_sigterm_exits_0(
    start_collector: Start,
    redis_client: redis.Redis,
    redis_prefix: str,
    redis_url: str,
    recorded: Recorded,
) -> None:
    env = {"TICKVAULT_REDIS_URL": redis_url, "TICKVAULT_REDIS_PREFIX": redis_prefix}

    def check() -> int:
        import os

        return subprocess.run(
            [sys.executable, "-m", "tickvault_collector", "--check"],
            env={**os.environ, **env},
            timeout=30,
        ).returncode

    assert check() == 1
    with replay_process(*RECORDINGS, "--speed", "0") as replay:
        collector = start_collector(replay)
        wait_for_every_trade(redis_client, redis_prefix, recorded, collector, 60)
        assert check() == 0
        assert collector.terminate() == 0
    assert check() == 1
