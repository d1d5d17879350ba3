"""The live stream as production serves it: ``tickvault-api``, Gunicorn's gevent workers.

Each test starts the real command (``python -m tickvault_api``: the packaged Gunicorn config,
one gevent worker, bound to a port the kernel picks) on the recordings database and this
test's Redis prefix, and talks to it over raw sockets as browsers and ``curl`` do: HTTP/1.1
(a chunked body) and HTTP/1.0 (a body ended by closing). Prices are published on the
latest-price channel as the writer publishes them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from tests.integration.api.loading import READ_ONLY_ROLE, as_role
from tests.support.polling import wait_until
from tests.support.sse import decode_chunks

from tickvault.codec import LATEST_JSON_FIELDS, latest_from_message, latest_json, latest_message
from tickvault.keys import RedisKeys
from tickvault.tick import Tick

START_BOUND_S = 60.0
READ_BOUND_S = 10.0
PRICE = b"event: price\ndata: "
LISTENING = re.compile(rb"Listening at: http://127\.0\.0\.1:(\d+)")
Serve = Callable[..., int]


@pytest.fixture
def serve(recordings_db: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[Serve]:
    """Start ``tickvault-api`` with the given ``TICKVAULT_*`` overrides; return its port."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**overrides: str) -> int:
        n = len(started)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")} | {
            "TICKVAULT_DATABASE_URL": recordings_db,
            "TICKVAULT_API_DATABASE_URL": as_role(recordings_db, READ_ONLY_ROLE),
            "TICKVAULT_REDIS_URL": redis_url,
            "TICKVAULT_REDIS_PREFIX": redis_prefix,
            "TICKVAULT_SYMBOLS": "BTCUSDT,ETHUSDT",
            "TICKVAULT_API_BIND": "127.0.0.1:0",  # the kernel picks a free port: no race
            "TICKVAULT_API_WORKERS": "1",  # the limits are per worker
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics{n}"),
        }
        env |= {f"TICKVAULT_{k.upper()}": v for k, v in overrides.items()}
        log = tmp_path / f"api{n}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tickvault_api"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        started.append(process)

        def listening() -> int | None:
            logged = log.read_bytes()
            assert process.poll() is None, f"tickvault-api exited:\n{logged.decode()}"
            found = LISTENING.search(logged)
            return int(found.group(1)) if found and b"Booting worker" in logged else None

        def logged() -> str:
            return log.read_text(errors="replace")

        port = wait_until(listening, START_BOUND_S, "tickvault-api to listen", 0.1, context=logged)
        wait_until(  # the worker has loaded the app
            lambda: request(port, "GET", "/healthz")[0],
            START_BOUND_S,
            "tickvault-api to answer /healthz",
            0.1,
            until=lambda status: status == 200,
            context=logged,
        )
        return port

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.0 request; return the status, headers and the whole body."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_BOUND_S) as sock:
        sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: tickvault\r\n\r\n".encode())
        data = b""
        while more := sock.recv(65536):
            data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    return status, headers, body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}


class Stream:
    """One client of ``GET path``, read as it arrives (chunks decoded)."""

    def __init__(self, port: int, path: str, *, http11: bool, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connecting: the window is agreed on the handshake
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(READ_BOUND_S)
        self.sock.connect(("127.0.0.1", port))
        version = "1.1" if http11 else "1.0"
        self.sock.sendall(f"GET {path} HTTP/{version}\r\nHost: tickvault\r\n\r\n".encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            more = self.sock.recv(65536)
            assert more, raw
            raw += more
        head, _, self.raw = raw.partition(b"\r\n\r\n")
        self.status, self.headers = parse_head(head)
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.body = b""
        self.finished = False  # the body ended as it should: the last chunk, or a close (1.0)
        self.closed = False  # the server closed the connection
        first, self.raw = self.raw, b""  # the start of the body may come with the head
        self._take(first)

    def _take(self, data: bytes) -> None:
        if not self.chunked:
            self.body += data
            return
        body, self.raw, last = decode_chunks(self.raw + data)
        self.body += body
        self.finished = self.finished or last

    def read_until(self, done: Callable[[Stream], bool], bound: float = READ_BOUND_S) -> None:
        """Read until *done(self)*, the end of the body, or fail after *bound* seconds."""
        deadline = time.monotonic() + bound
        while not done(self):
            assert not (self.finished or self.closed), (self.body[-500:], self.raw[-200:])
            assert time.monotonic() < deadline, (f"nothing more within {bound} s", self.body[-500:])
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                self.finished = self.finished or not self.chunked
            self._take(data)

    def events(self) -> list[bytes]:
        return [b for b in self.body.split(b"\n\n") if b.startswith(PRICE)]

    def close(self) -> None:
        self.sock.close()


def has(marker: bytes) -> Callable[[Stream], bool]:
    """Return whether a stream's body holds *marker* (a condition of Stream.read_until)."""
    return lambda stream: marker in stream.body


def prices_in(stream: Stream) -> list[dict[str, Any]]:
    return [msgspec.json.decode(e.removeprefix(PRICE)) for e in stream.events()]


def publish(redis_url: str, redis_prefix: str, *ticks: Tick) -> None:
    client = redis.Redis.from_url(redis_url)
    with client.pipeline(transaction=False) as pipe:
        for t in ticks:
            pipe.publish(RedisKeys(redis_prefix).latest_channel, latest_message(t))
        pipe.execute()
    client.close()


def newer(last: Tick, symbol: str, steps: int = 1) -> Tick:
    return Tick(
        symbol,
        last.trade_id + steps,
        "61000.01000000",
        "0.00100000",
        last.trade_time + steps * 1000,
        last.event_time + steps * 1000,
        True,
        last.received_at + steps * 1000,
    )


def metric(port: int, line: str) -> float:
    """Return the value of one sample of the API's ``/metrics`` (0 when absent)."""
    for sample in request(port, "GET", "/metrics")[2].decode().splitlines():
        name, _, value = sample.rpartition(" ")
        if name == line:
            return float(value)
    return 0.0


def test_a_stream_sends_the_snapshot_then_each_new_price_keepalives_and_ends_cleanly(
    serve: Serve, latest_prices: dict[str, Tick], redis_url: str, redis_prefix: str
) -> None:
    port = serve(api_stream_max_seconds="17")
    opened = time.monotonic()
    streams = [Stream(port, "/api/v1/stream?symbols=btcusdt", http11=v11) for v11 in (True, False)]
    for stream, chunked in zip(streams, (True, False), strict=True):
        assert stream.status == 200 and stream.chunked is chunked
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        stream.read_until(lambda s: len(s.events()) == 1)
        assert stream.body.startswith(b"retry: 2000\n\n" + PRICE)
        (snapshot,) = prices_in(stream)
        assert set(snapshot) == set(LATEST_JSON_FIELDS)
        btc = latest_prices["BTCUSDT"]
        assert (snapshot["symbol"], snapshot["trade_id"]) == ("BTCUSDT", btc.trade_id)
    btc = newer(latest_prices["BTCUSDT"], "BTCUSDT")
    publish(redis_url, redis_prefix, newer(latest_prices["ETHUSDT"], "ETHUSDT"), btc)
    for stream in streams:
        stream.read_until(lambda s: len(s.events()) == 2)
    last_price = time.monotonic()
    price = latest_from_message(latest_message(btc))
    assert price is not None
    for stream in streams:
        body = prices_in(stream)[1]  # the same body as GET /prices/BTCUSDT/latest, aged
        assert body == latest_json(price, price.trade_time + body["age_ms"] * 1000)
        assert stream.body.endswith(b"\n\n")
    for stream in streams:  # silence: a keep-alive comment after 15 s, nothing before it
        before = len(stream.body)
        stream.read_until(lambda s: s.body.endswith(b": keepalive\n\n"), 17)
        assert stream.body[before:] == b": keepalive\n\n"
    assert time.monotonic() - last_price > 12.0  # 15 s after the write; read late under load
    for stream in streams:  # the time is up: the body ends cleanly (browsers reconnect)
        stream.read_until(lambda s: s.finished, 5)
        assert stream.finished and len(stream.events()) == 2
        stream.close()
    assert time.monotonic() - opened >= 16.5
    assert metric(port, "tickvault_api_streams") == 0


def test_limits_slow_clients_and_head_through_gunicorn(
    serve: Serve, latest_prices: dict[str, Tick], redis_url: str, redis_prefix: str
) -> None:
    port = serve(api_max_streams="2", api_stream_buffer="2")
    slow = Stream(port, "/api/v1/stream", http11=True, rcvbuf=4096)  # never reads again
    fast = Stream(port, "/api/v1/stream", http11=True)
    assert slow.status == fast.status == 200
    status, headers, body = request(port, "GET", "/api/v1/stream")  # one over the limit
    assert status == 429 and headers["retry-after"] == "5"
    assert msgspec.json.decode(body)["error"]["code"] == "too_busy"
    status, headers, body = request(port, "HEAD", "/api/v1/stream")  # no place taken
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert body == b""
    # bursts of many symbols' prices (each burst one flush) until the slow client is dropped
    last, sent = latest_prices["BTCUSDT"], 0
    deadline = time.monotonic() + 60
    while metric(port, "tickvault_api_streams_dropped_total") < 1:
        assert time.monotonic() < deadline, "the slow client was never dropped"
        for _ in range(10):
            sent += 1
            burst = [newer(last, f"SYM{i}", sent) for i in range(300)]
            publish(redis_url, redis_prefix, *burst)
            fast.read_until(has(b'"trade_id":%d,' % (last.trade_id + sent)))
            fast.body = fast.body[-4096:]  # what is left of the last burst is enough
    assert metric(port, "tickvault_api_streams") == 1  # the fast one goes on
    btc = newer(last, "BTCUSDT", sent + 1)
    publish(redis_url, redis_prefix, btc)
    fast.read_until(has(b'"trade_id":%d,' % btc.trade_id))
    # the slow one's stream ended: with the slow_client error last, or cut off, never clean
    slow.read_until(lambda s: s.closed or s.finished, 30)
    if slow.finished:
        farewell = slow.body.rstrip(b"\n").rpartition(b"\n\n")[2]
        assert farewell.startswith(b"event: error\ndata: "), slow.body[-300:]
        error = msgspec.json.decode(farewell.partition(b"data: ")[2])["error"]
        assert error["code"] == "slow_client"
    slow.close()
    assert request(port, "GET", "/api/v1/stream?symbols=nosuch")[0] == 404
    again = Stream(port, "/api/v1/stream", http11=False)  # its place was given back
    assert again.status == 200
    assert metric(port, 'tickvault_api_refused_total{limit="streams"}') == 1
    assert metric(port, "tickvault_api_streams") == 2
    again.close()
    fast.close()


def test_a_stream_while_redis_is_down_is_unavailable(serve: Serve) -> None:
    port = serve(redis_url="redis://127.0.0.1:1/0")
    status, _, body = request(port, "GET", "/api/v1/stream")
    assert status == 503 and msgspec.json.decode(body)["error"]["code"] == "unavailable"
    assert metric(port, "tickvault_api_streams") == 0
