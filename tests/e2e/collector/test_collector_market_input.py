"""Bad input from the exchange while capturing a whole market: malformed and partial
exchangeInfo and ticker answers, lower-case and unicode names, a status changed twice between
refreshes. Each is logged and counted; everything valid is captured."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from tests.e2e.collector.conftest import CollectorProcess, StreamContent
from tests.private_servers import replay_process
from tests.support.market import exchange, owed, seed_positions

from tickvault.keys import RedisKeys
from tickvault.symbols import Status, parse_status_value, unsupported
from tickvault.tick import is_symbol

MARKET = ("--synthetic-market", "80", "--seed", "5", "--top-rate", "20", "--ping-interval", "2")
INFO, TICKERS = "/api/v3/exchangeInfo", "/api/v3/ticker/24hr"


def _missing(content: StreamContent, ranges: dict[str, tuple[int, int]]) -> dict[str, int]:
    out = {}
    for symbol, (first, last) in ranges.items():
        have = content.ticks.get(symbol, {})
        lacking = sum(1 for i in range(first, last + 1) if i not in have)
        if lacking:
            out[symbol] = lacking
    return out


def test_malformed_answers_and_unusable_names_are_reported_and_the_rest_captured(
    start_collector: Callable[..., CollectorProcess], redis_client: redis.Redis, redis_prefix: str
) -> None:
    keys = RedisKeys(redis_prefix)
    with replay_process(*MARKET) as replay:
        market = exchange(replay)
        trading = sorted(
            (v for v in market.values() if v["status"] == "TRADING"), key=lambda v: -v["rate"]
        )
        flipped = trading[3]["symbol"]
        marks = seed_positions(redis_client, redis_prefix, market)
        collector = start_collector(
            replay,
            symbols="ALL",
            symbols_refresh_s=2,
            tail_grace_s=2,
            silence_timeout_s=5,
            audit_interval_s=0,
        )
        content = collector.read_until(
            redis_client, keys.stream, StreamContent(), lambda c: c.ticks, 60, "the first trades"
        )

        replay.post_faults(
            [
                *(
                    {"type": "rest_malformed", "path": INFO, "kind": kind}
                    for kind in ("truncated", "not_json", "empty", "missing_fields", "wrong_types")
                ),
                {"type": "rest_malformed", "path": TICKERS, "kind": "wrong_types"},
            ]
        )
        replay.set_symbol("lowusdt", status="TRADING", rate=2)
        replay.set_symbol("这是测试币456", status="TRADING", rate=2)
        replay.set_symbol(flipped, status="HALT")
        time.sleep(0.5)
        replay.set_symbol(flipped, status="TRADING")  # twice within one refresh
        time.sleep(12)  # several refreshes, each answered badly until the faults are spent
        ranges = {s: r for s, r in owed(marks, exchange(replay)).items() if is_symbol(s)}
        collector.read_until(
            redis_client,
            keys.stream,
            content,
            lambda c: not _missing(c, ranges),
            60,
            f"every trade owed of {sorted(ranges)}",
            0.5,
        )
        fields = redis_client.hgetall(keys.symbols)
        reported = {k.decode(): parse_status_value(v) for k, v in fields.items()}
        assert collector.terminate() == 0

    # A listed name tickvault cannot store is reported with its reason, never dropped in silence.
    assert reported["lowusdt"] is not None and reported["lowusdt"][0] is Status.UNSUPPORTED
    assert unsupported(fields) == {"lowusdt": "holds a lower-case ASCII letter"}
    # The UTF-8 names the market lists are captured like the others.
    assert {"这是测试币456", "币安人生USDT", "１２３４５６USDT"} <= set(content.ticks)
    trading_names = {v["symbol"] for v in trading}
    assert {s for s, v in reported.items() if v and v[0] is Status.TRADING} == trading_names
    assert set(content.ticks) <= trading_names
    log = collector.log()
    assert "exchangeInfo answer unusable" in log  # truncated, not JSON, empty
    assert "entries unreadable; using the others, taking no symbol away" in log
    assert "names tickvault cannot store" in log and "'lowusdt'" in log
    assert "ticker rows unreadable" in log
    assert "Traceback" not in log
