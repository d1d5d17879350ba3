"""The price hub: one subscription fanned out, bounded buffers, slow clients dropped."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import msgspec
import pytest
from tests.support.polling import wait_until

from tickvault.codec import LatestPrice, latest_from_message, latest_json, latest_message
from tickvault.keys import RedisKeys
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.errors import Unavailable
from tickvault_api.hub import PriceHub, StreamEnd, Subscriber
from tickvault_api.metrics import ApiMetrics
from tickvault_api.settings import ApiSettings
from tickvault_api.stream import NO_SOCKET

CHANNEL = RedisKeys("tickvault").latest_channel
T0 = 1_723_161_600_000_000


def tick(symbol: str, trade_id: int) -> Tick:
    return Tick(symbol, trade_id, f"{trade_id}.00000000", "1.00000000", T0, T0, False, T0)


def price(symbol: str, trade_id: int) -> LatestPrice:
    decoded = latest_from_message(latest_message(tick(symbol, trade_id)))
    assert decoded is not None
    return decoded


def plug(
    hub: PriceHub, sub: Subscriber, made: list[socket.socket], *, chunked: bool = False,
    sndbuf: int | None = None,
) -> socket.socket:  # fmt: skip
    """Attach *sub* to a non-blocking socket as the stream's response does; return the
    client's end (kept in *made* to be closed)."""
    ours, theirs = socket.socketpair()
    made.extend((ours, theirs))
    ours.setblocking(False)
    if sndbuf is not None:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    theirs.settimeout(5)
    hub.attach(sub, ours, chunked)
    return theirs


def collect(peer: socket.socket, count: int) -> list[tuple[str, int]]:
    """Read *count* events (not chunked) from *peer*; return their symbols and trade ids."""
    data = b""
    while data.count(b"\n\n") < count:
        more = peer.recv(65536)
        assert more, data
        data += more
    return [(e["symbol"], e["trade_id"]) for e in events_in(data)]


def nothing_more(peer: socket.socket, wait: float = 0.2) -> bool:
    """Return whether *peer* receives nothing within *wait* seconds."""
    peer.settimeout(wait)
    try:
        return not peer.recv(65536)
    except TimeoutError:
        return True
    finally:
        peer.settimeout(5)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Sockets a test made, closed afterwards."""
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


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
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer, sockets: list[socket.socket]
) -> None:
    prices, metrics = hub
    btc, btc_snapshot = prices.join(frozenset({"BTCUSDT"}))
    every, every_snapshot = prices.join(None)
    assert btc_snapshot == every_snapshot == {"BTCUSDT": price("BTCUSDT", 10)}
    assert metrics.streams._value.get() == 2
    btc_peer, every_peer = plug(prices, btc, sockets), plug(prices, every, sockets)
    publish(server, tick("ETHUSDT", 5), tick("BTCUSDT", 11))
    assert collect(every_peer, 2) == [("ETHUSDT", 5), ("BTCUSDT", 11)]
    (body,) = events_in(read_until(btc_peer, b"\n\n"))
    assert body == latest_json(price("BTCUSDT", 11), T0 + 2_000_000)  # the REST body
    assert body["age_ms"] == 2000
    prices.leave(btc)
    prices.leave(btc)  # idempotent
    assert metrics.streams._value.get() == 1


def test_a_price_no_newer_than_one_known_is_not_relayed(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer, attached: Attach
) -> None:
    _, peer = attached(hub[0])
    publish(server, tick("BTCUSDT", 9), tick("BTCUSDT", 10), tick("BTCUSDT", 12))
    assert collect(peer, 1) == [("BTCUSDT", 12)]
    assert nothing_more(peer)


def test_a_stream_not_attached_yet_that_fills_its_buffer_is_dropped_and_the_others_go_on(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer, sockets: list[socket.socket]
) -> None:
    prices, metrics = hub
    slow, _ = prices.join(None)  # its first bytes never went out: not attached
    fast, _ = prices.join(None)
    fast_peer = plug(prices, fast, sockets)
    for i in range(1, 8):
        publish(server, tick("ETHUSDT", i))
        assert collect(fast_peer, 1) == [("ETHUSDT", i)]
    assert slow.ended is StreamEnd.SLOW
    slow_peer = plug(prices, slow, sockets)  # its response attaches it, then sees it ended
    assert collect(slow_peer, 3) == [("ETHUSDT", i) for i in (1, 2, 3)]  # its bounded buffer
    assert nothing_more(slow_peer)
    assert metrics.streams_dropped._value.get() == 1
    assert metrics.streams._value.get() == 1
    prices.leave(slow)  # the response ends and leaves: not counted twice
    assert metrics.streams._value.get() == 1


def test_unreadable_messages_are_counted_and_skipped(
    hub: tuple[PriceHub, ApiMetrics], server: fakeredis.FakeServer, attached: Attach
) -> None:
    prices, metrics = hub
    _, peer = attached(prices)
    fakeredis.FakeRedis(server=server).publish(CHANNEL, b'{"symbol":"BTCUSDT","trade_id":99}')
    publish(server, tick("ETHUSDT", 1))
    assert collect(peer, 1) == [("ETHUSDT", 1)]
    assert metrics.unreadable_messages._value.get() == 1


def test_stopping_ends_every_client_and_refuses_new_ones(
    hub: tuple[PriceHub, ApiMetrics],
) -> None:
    prices, _ = hub
    alive = [True]
    prices.stop_when(lambda: alive[0])
    sub, _ = prices.join(None)
    alive[0] = False  # the Gunicorn worker is told to stop
    wait_until(
        lambda: sub.ended, 5, "the stream to end", 0.01, until=lambda end: end is StreamEnd.SHUTDOWN
    )
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


def test_a_server_without_gunicorns_socket_gets_503_and_a_head_gets_the_headers() -> None:
    client = fakeredis.FakeRedis()
    app = create_app(ApiSettings(_env_file=None), redis=client)  # type: ignore[call-arg]
    ctx = app.extensions["tickvault"]
    answer = app.test_client().get("/api/v1/stream")  # Flask's own client: no socket to own
    assert answer.status_code == 503
    assert answer.get_json()["error"] == {"code": "unavailable", "message": NO_SOCKET}
    head = app.test_client().head("/api/v1/stream")
    assert head.status_code == 200 and head.mimetype == "text/event-stream" and not head.data
    assert ctx.streams.used == 0 and ctx.metrics.streams._value.get() == 0
    ctx.hub.stop()


def test_a_stream_closed_before_its_first_byte_gives_its_place_back() -> None:
    from werkzeug.test import EnvironBuilder

    app = create_app(ApiSettings(_env_file=None), redis=fakeredis.FakeRedis())  # type: ignore[call-arg]
    ctx = app.extensions["tickvault"]
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)  # as Gunicorn's gevent worker hands it over
        environ = EnvironBuilder(path="/api/v1/stream").get_environ()
        body = app({**environ, "gunicorn.socket": ours}, lambda *_: None)
        assert ctx.streams.used == 1
        body.close()  # the server gives up before writing anything (a client gone at once)
    assert ctx.streams.used == 0
    assert ctx.metrics.streams._value.get() == 0
    ctx.hub.stop()


# ---------------------------------------------------------------- the hub writing to sockets


@pytest.fixture
def make_hub(server: fakeredis.FakeServer) -> Iterator[Callable[..., PriceHub]]:
    """Hubs on the test's Redis with a given interval and buffer, stopped afterwards."""
    made: list[PriceHub] = []

    def make(*, interval: float = 0.0, buffer: int = 3) -> PriceHub:
        client = fakeredis.FakeRedis(server=server)
        hub = PriceHub(
            lambda: client,
            CHANNEL,
            dict,
            buffer=buffer,
            metrics=ApiMetrics(),
            clock_us=lambda: T0 + 2_000_000,
            interval=interval,
        )
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.stop()


Attach = Callable[..., tuple[Subscriber, socket.socket]]


@pytest.fixture
def attached() -> Iterator[Attach]:
    """Join *hub* and attach the subscriber to a non-blocking socket; return it and the
    client's end of the connection (socket pairs closed afterwards)."""
    made: list[socket.socket] = []

    def attach(
        hub: PriceHub, symbols: frozenset[str] | None = None, *, chunked: bool = False,
        sndbuf: int | None = None,
    ) -> tuple[Subscriber, socket.socket]:  # fmt: skip
        sub, _ = hub.join(symbols)
        return sub, plug(hub, sub, made, chunked=chunked, sndbuf=sndbuf)

    yield attach
    for sock in made:
        sock.close()


def events_in(data: bytes) -> list[dict[str, Any]]:
    blocks = [b for b in data.split(b"\n\n") if b]
    assert all(b.startswith(b"event: price\ndata: ") for b in blocks), data
    return [msgspec.json.decode(b.removeprefix(b"event: price\ndata: ")) for b in blocks]


def read_until(sock: socket.socket, ending: bytes) -> bytes:
    data = b""
    while not data.endswith(ending):
        more = sock.recv(65536)
        assert more, data
        data += more
    return data


MakeHub = Callable[..., PriceHub]
Attach = Callable[..., tuple[Subscriber, socket.socket]]


def test_attached_streams_get_one_write_of_their_symbols_framed_for_their_response(
    server: fakeredis.FakeServer, make_hub: MakeHub, attached: Attach
) -> None:
    hub = make_hub()
    every, every_peer = attached(hub, chunked=True)
    btc, btc_peer = attached(hub, frozenset({"BTCUSDT"}))
    publish(server, tick("ETHUSDT", 5))
    head, _, body = read_until(every_peer, b"\n\n\r\n").partition(b"\r\n")
    assert int(head, 16) == len(body) - 2 and body.endswith(b"\r\n")  # one whole chunk
    (eth,) = events_in(body[:-2])
    assert eth == latest_json(price("ETHUSDT", 5), T0 + 2_000_000)
    publish(server, tick("BTCUSDT", 11))
    (first,) = events_in(read_until(btc_peer, b"\n\n"))  # not chunked; no ETHUSDT
    assert (first["symbol"], first["trade_id"]) == ("BTCUSDT", 11)
    assert not (btc.backlogged or every.backlogged)  # written at once


def test_a_burst_is_coalesced_to_the_latest_price_of_each_symbol_in_one_write(
    server: fakeredis.FakeServer, make_hub: MakeHub, attached: Attach
) -> None:
    hub = make_hub(interval=1.0)
    _, peer = attached(hub)
    _, every = attached(hub)
    _, btc_only = attached(hub, frozenset({"BTCUSDT"}))
    publish(server, tick("BTCUSDT", 10))  # alone: flushed at once
    started = time.monotonic()
    (lone,) = events_in(read_until(peer, b"\n\n"))
    assert lone["trade_id"] == 10 and time.monotonic() - started < 0.9
    assert collect(every, 1) == collect(btc_only, 1) == [("BTCUSDT", 10)]
    # within the interval after it: held, and flushed together when the interval ends
    publish(server, tick("ETHUSDT", 5), tick("BTCUSDT", 11), tick("BTCUSDT", 13))
    publish(server, tick("BTCUSDT", 12))  # older than one already in the batch
    got = read_until(peer, b"\n\n")
    assert time.monotonic() - started >= 0.9
    coalesced = [("ETHUSDT", 5), ("BTCUSDT", 13)]
    assert [(e["symbol"], e["trade_id"]) for e in events_in(got)] == coalesced
    assert collect(every, 2) == coalesced
    assert collect(btc_only, 1) == [("BTCUSDT", 13)]  # its filter still holds
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(65536)  # nothing more: one write for the burst


def read_past(sock: socket.socket, seen: bytes, trade_id: int) -> bytes:
    """Read *sock* until the event of *trade_id*; return what follows it."""
    marker = b'"trade_id":%d,' % trade_id
    while marker not in seen:
        seen += sock.recv(65536)
    return seen[seen.index(marker) + len(marker) :]


def test_an_attached_client_that_stops_reading_is_dropped_and_the_others_go_on(
    server: fakeredis.FakeServer, make_hub: MakeHub, attached: Attach
) -> None:
    hub = make_hub(buffer=3)
    slow, _ = attached(hub, chunked=True, sndbuf=4096)  # its client never reads
    fast, fast_peer = attached(hub, chunked=True)
    trade_id, seen = 0, b""
    while slow.ended is None:
        trade_id += 1
        assert trade_id < 10_000, "the slow client was never dropped"
        publish(server, tick("ETHUSDT", trade_id))
        seen = read_past(fast_peer, seen, trade_id)  # the fast one gets every price meanwhile
    assert slow.ended is StreamEnd.SLOW and slow.backlogged
    metrics = hub._metrics
    assert metrics.streams_dropped._value.get() == 1
    assert metrics.streams._value.get() == 1
    assert not (slow.partial and slow.farewell(b"bye"))  # cut mid-chunk: no farewell
    publish(server, tick("ETHUSDT", trade_id + 1))
    read_past(fast_peer, seen, trade_id + 1)
    assert fast.ended is None


def test_a_backlog_is_drained_in_order_when_the_client_reads_again() -> None:
    sub = Subscriber(None, limit=5000)
    sock, peer = socket.socketpair()
    with sock, peer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.settimeout(5)  # non-blocking underneath; drain waits within the timeout
        sub.attach(sock, chunked=False)
        frames = [b"data: %06d\n\n" % i for i in range(3000)]
        for frame in frames:
            assert sub.send(frame)
        assert sub.backlogged  # the socket took only part
        received = b""

        def read_all() -> None:
            nonlocal received
            while len(received) < sum(map(len, frames)):
                received += peer.recv(65536)

        reader = threading.Thread(target=read_all)
        reader.start()
        sub.drain()
        reader.join(5)
        assert not sub.backlogged and sub.ended is None
        assert received == b"".join(frames)


def test_a_client_gone_ends_its_stream_without_counting_it_slow(
    server: fakeredis.FakeServer, make_hub: MakeHub, attached: Attach
) -> None:
    hub = make_hub()
    sub, peer = attached(hub)
    peer.close()
    publish(server, tick("ETHUSDT", 1))
    wait_until(
        lambda: sub.ended, 5, "the write to fail", 0.01, until=lambda end: end is StreamEnd.GONE
    )
    assert hub._metrics.streams_dropped._value.get() == 0


def test_the_hub_writes_only_to_gunicorns_non_blocking_http1_sockets_of_a_get() -> None:
    from tickvault_api.limits import direct_socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        environ: dict[str, Any] = {
            "gunicorn.socket": ours,
            "REQUEST_METHOD": "GET",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        assert direct_socket(environ) is None  # blocking: a thread's socket, not gevent's
        ours.setblocking(False)
        assert direct_socket(environ) == (ours, True)  # Gunicorn chunks an HTTP/1.1 body
        assert direct_socket({**environ, "SERVER_PROTOCOL": "HTTP/1.0"}) == (ours, False)
        assert direct_socket({**environ, "SERVER_PROTOCOL": "HTTP/2"}) is None
        assert direct_socket({**environ, "REQUEST_METHOD": "HEAD"}) is None
        assert direct_socket({"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}) is None
