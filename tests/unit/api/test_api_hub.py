"""The price hub: one subscription fanned out, bounded buffers, slow clients dropped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import orjson
import pytest

from tickvault.codec import LatestPrice, latest_from_message, latest_json, latest_message
from tickvault.keys import RedisKeys
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.errors import Unavailable
from tickvault_api.hub import PriceHub, StreamEnd, Subscriber
from tickvault_api.metrics import ApiMetrics
from tickvault_api.settings import ApiSettings

CHANNEL = RedisKeys("tickvault").latest_channel
T0 = 1_723_161_600_000_000


def tick(symbol: str, trade_id: int) -> Tick:
    return Tick(symbol, trade_id, f"{trade_id}.00000000", "1.00000000", T0, T0, False, T0)


def price(symbol: str, trade_id: int) -> LatestPrice:
    decoded = latest_from_message(latest_message(tick(symbol, trade_id)))
    assert decoded is not None
    return decoded


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def collect(sub: Subscriber, count: int) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        got += sub.take(0.1)
    return got


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def hub(server: fakeredis.FakeServer) -> Iterator[tuple[PriceHub, ApiMetrics]]:
    metrics = ApiMetrics()
    client = fakeredis.FakeRedis(server=server)
    seed = {"BTCUSDT": price("BTCUSDT", 10)}
    made = PriceHub(
        lambda: client,
        CHANNEL,
        lambda: seed,
        buffer=3,
        metrics=metrics,
        clock_us=lambda: T0 + 2_000_000,
    )
    yield made, metrics
    made.stop()


def publish(server: fakeredis.FakeServer, *ticks: Tick) -> None:
    publisher = fakeredis.FakeRedis(server=server)
    for t in ticks:
        publisher.publish(CHANNEL, latest_message(t))


def test_one_subscription_serves_every_client_its_symbols(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer
) -> None:
    prices, metrics = hub
    btc, btc_snapshot = prices.join(frozenset({"BTCUSDT"}))
    every, every_snapshot = prices.join(None)
    assert btc_snapshot == every_snapshot == {"BTCUSDT": price("BTCUSDT", 10)}
    assert metrics.streams._value.get() == 2
    publish(server, tick("ETHUSDT", 5), tick("BTCUSDT", 11))
    assert [(e.symbol, e.trade_id) for e in collect(every, 2)] == [
        ("ETHUSDT", 5),
        ("BTCUSDT", 11),
    ]
    (event,) = collect(btc, 1)
    assert event.data.startswith(b"event: price\ndata: ")
    body = orjson.loads(event.data.removeprefix(b"event: price\ndata: "))
    assert body == latest_json(price("BTCUSDT", 11), T0 + 2_000_000)  # the REST body
    assert body["age_ms"] == 2000
    prices.leave(btc)
    prices.leave(btc)  # idempotent
    assert metrics.streams._value.get() == 1


def test_a_price_no_newer_than_one_known_is_not_relayed(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer
) -> None:
    prices, _ = hub
    sub, _ = prices.join(None)
    publish(server, tick("BTCUSDT", 9), tick("BTCUSDT", 10), tick("BTCUSDT", 12))
    assert [e.trade_id for e in collect(sub, 1)] == [12]
    assert sub.take(0.2) == []


def test_a_slow_client_is_dropped_and_counted_and_the_others_go_on(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer
) -> None:
    prices, metrics = hub
    slow, _ = prices.join(None)
    fast, _ = prices.join(None)
    for i in range(1, 8):
        publish(server, tick("ETHUSDT", i))
        assert [e.trade_id for e in collect(fast, 1)] == [i]
    assert slow.ended is StreamEnd.SLOW
    assert len(slow.take(0)) == 3  # its bounded buffer, nothing more
    assert metrics.streams_dropped._value.get() == 1
    assert metrics.streams._value.get() == 1
    prices.leave(slow)  # the response ends and leaves: not counted twice
    assert metrics.streams._value.get() == 1


def test_unreadable_messages_are_counted_and_skipped(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer
) -> None:
    prices, metrics = hub
    sub, _ = prices.join(None)
    fakeredis.FakeRedis(server=server).publish(CHANNEL, b'{"symbol":"BTCUSDT","trade_id":99}')
    publish(server, tick("ETHUSDT", 1))
    assert [e.trade_id for e in collect(sub, 1)] == [1]
    assert metrics.unreadable_messages._value.get() == 1


def test_stopping_ends_every_client_and_refuses_new_ones(
    hub: tuple[PriceHub, ApiMetrics],
) -> None:
    prices, _ = hub
    alive = [True]
    prices.stop_when(lambda: alive[0])
    sub, _ = prices.join(None)
    alive[0] = False  # the Gunicorn worker is told to stop
    wait_for(lambda: sub.ended is StreamEnd.SHUTDOWN, "the stream to end")
    with pytest.raises(Unavailable):
        prices.join(None)


def test_joining_while_redis_is_down_is_unavailable() -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    client = fakeredis.FakeRedis(server=server)
    prices = PriceHub(
        lambda: client, CHANNEL, dict, buffer=3, metrics=ApiMetrics(), clock_us=lambda: T0
    )
    try:
        with pytest.raises(Unavailable, match="live prices"):
            prices.join(None)
    finally:
        prices.stop()


def test_streams_beyond_the_process_limit_get_429_with_retry_after() -> None:
    client = fakeredis.FakeRedis()
    settings = ApiSettings(_env_file=None, api_max_streams=1)  # type: ignore[call-arg]
    app = create_app(settings, redis=client)
    first = app.test_client().get("/api/v1/stream", buffered=False)
    try:
        assert first.status_code == 200
        second = app.test_client().get("/api/v1/stream")
        assert second.status_code == 429 and second.headers["Retry-After"] == "5"
        assert second.get_json()["error"]["code"] == "too_busy"
    finally:
        first.close()
    third = app.test_client().get("/api/v1/stream", buffered=False)
    assert third.status_code == 200  # the place was given back
    third.close()
    metrics = app.test_client().get("/metrics").data
    assert b'tickvault_api_refused_total{limit="streams"} 1.0' in metrics
    app.extensions["tickvault"].hub.stop()


def test_a_stream_closed_before_its_first_byte_gives_its_place_back() -> None:
    from werkzeug.test import EnvironBuilder

    app = create_app(ApiSettings(_env_file=None), redis=fakeredis.FakeRedis())  # type: ignore[call-arg]
    ctx = app.extensions["tickvault"]
    body = app(EnvironBuilder(path="/api/v1/stream").get_environ(), lambda *_: None)
    assert ctx.streams.used == 1
    body.close()  # the server gives up before writing anything (a client gone at once)
    assert ctx.streams.used == 0
    assert ctx.metrics.streams._value.get() == 0
    ctx.hub.stop()
