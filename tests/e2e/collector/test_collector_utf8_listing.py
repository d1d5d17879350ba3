"""UTF-8 names on the all-market ticker. ``--synthetic BTCUSDT`` also lists Binance-like UTF-8
names (这是测试币456, …) that nobody asked for: they arrive in ``!ticker_1h@arr`` all along and
are left alone. A UTF-8 listing made mid-run that ``TICKVAULT_SYMBOLS`` matches (``币安新*``)
is captured from its first trade, on the early refresh its ticker row triggers."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from tests.e2e.collector.conftest import CollectorProcess, StreamContent, read_stream
from tests.private_servers import replay_process

from tickvault.keys import RedisKeys
from tickvault.symbols import Status, parse_status_value

WANTED, UNWANTED = "币安新币USDT", "这是测试币456"  # listed mid-run; listed from the start


def test_an_unrequested_utf8_listing_on_the_ticker_stream_is_captured_when_matched(
    start_collector: Callable[..., CollectorProcess], redis_client: redis.Redis, redis_prefix: str
) -> None:
    keys = RedisKeys(redis_prefix)
    with replay_process("--synthetic", "BTCUSDT", "--rate", "20", "--ping-interval", "2") as replay:
        collector = start_collector(replay, symbols="BTCUSDT,币安新*", symbols_refresh_s=600)
        content = StreamContent()
        deadline = time.monotonic() + 30
        while "BTCUSDT" not in content.ticks:
            assert time.monotonic() < deadline, collector.log()[-3000:]
            read_stream(redis_client, keys.stream, content)
            time.sleep(0.2)
        # Listed after the start: only the ticker stream tells (the next refresh is 600 s away).
        assert UNWANTED in {e["symbol"] for e in replay.get("/api/v3/exchangeInfo")["symbols"]}
        replay.set_symbol(WANTED, status="TRADING", rate=20, first_id=0)
        deadline = time.monotonic() + 60
        while len(content.ticks.get(WANTED, {})) < 20:
            assert collector.process.poll() is None, collector.log()[-3000:]
            assert time.monotonic() < deadline, collector.log()[-3000:]
            read_stream(redis_client, keys.stream, content)
            time.sleep(0.3)
        fields = redis_client.hgetall(keys.symbols)
        assert collector.terminate() == 0
    ids = sorted(content.ticks[WANTED])
    assert ids[0] == 0 and ids == list(range(ids[0], ids[-1] + 1))  # from its first trade, whole
    assert UNWANTED not in content.ticks
    status = parse_status_value(fields[WANTED.encode()])
    assert status is not None and status[0] is Status.TRADING
    assert UNWANTED.encode() not in fields
    log = collector.log()
    assert "ticker rows unreadable" not in log and "Traceback" not in log
