"""UTF-8 symbol names through the API under Gunicorn: percent-encoded paths, the case rule,
CSV, SSE, the symbols list with a name that cannot be stored, and the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import redis
from tests.support.api_server import load_recordings, running_api

from tickvault.keys import RedisKeys
from tickvault.symbols import Status, status_value
from tickvault.tick import Tick

T0 = 1_723_161_600_000_000  # 2024-08-09T00:00:00Z
TESTNET = "这是测试币456"
FUTURES = "币安人生USDT"
WIDE = "１２３４５６USDT"
NOT_STORABLE = "币安 USDT"  # a space: tickvault cannot store it


def _ticks(symbol: str, price: str) -> list[Tick]:
    return [Tick(symbol, i, price, "1.00", T0 + i * 1000, T0 + i * 1000, False, T0) for i in (1, 2)]


@pytest.fixture
def utf8_api(
    new_database: Callable[[], str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    url = new_database()
    extra = _ticks(TESTNET, "0.00002246") + _ticks(FUTURES, "0.15") + _ticks(WIDE, "3.2")
    load_recordings(url, redis_url, redis_prefix, extra)
    client = redis.Redis.from_url(redis_url)
    keys = RedisKeys(redis_prefix)
    for name in (TESTNET, FUTURES, WIDE, "BTCUSDT"):
        client.hset(keys.symbols, name, status_value(Status.TRADING, T0))
    why = "holds the character U+0020, not allowed in a symbol name"
    client.hset(keys.symbols, NOT_STORABLE, status_value(Status.UNSUPPORTED, T0, why))
    client.close()
    settings = {
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_SYMBOLS": f"btcusdt,{TESTNET},币安*,*usdt",  # names and patterns in UTF-8
    }
    with running_api(tmp_path, settings) as base:
        yield base


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_utf8_names_are_listed_served_and_exported_by_percent_encoded_paths(
    utf8_api: str,
) -> None:
    status, _, body = fetch(f"{utf8_api}/api/v1/symbols")
    listed = json.loads(body)
    assert status == 200
    names = [s["symbol"] for s in listed["symbols"]]
    assert names[:2] == ["BTCUSDT", TESTNET] and {FUTURES, WIDE} <= set(names)
    assert listed["unsupported"] == [
        {
            "symbol": NOT_STORABLE,
            "reason": "holds the character U+0020, not allowed in a symbol name",
        }
    ]
    for name, price in ((TESTNET, "0.00002246"), (FUTURES, "0.15"), (WIDE, "3.2")):
        status, _, body = fetch(f"{utf8_api}/api/v1/prices/{quote(name)}/latest")
        assert status == 200, body
        assert json.loads(body)["symbol"] == name and json.loads(body)["price"] == price
    # ASCII letters in any case; every other character as listed.
    status, _, body = fetch(f"{utf8_api}/api/v1/prices/{quote('币安人生usdt')}/latest")
    assert status == 200 and json.loads(body)["symbol"] == FUTURES
    status, _, body = fetch(f"{utf8_api}/api/v1/prices/{quote('１２３４５６usdt')}/latest")
    assert status == 200 and json.loads(body)["symbol"] == WIDE
    status, _, body = fetch(f"{utf8_api}/api/v1/prices/{quote('这是测试币457')}/latest")
    error = json.loads(body)["error"]
    assert (
        status == 404 and error["code"] == "unknown_symbol" and "这是测试币457" in error["message"]
    )
    window = "start=2024-08-09T00:00:00Z&end=2024-08-09T00:01:00Z"
    status, headers, body = fetch(
        f"{utf8_api}/api/v1/prices/{quote(TESTNET)}/history?{window}&format=csv"
    )
    assert status == 200 and body.decode().count("\n") == 3, body
    disposition = headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"{TESTNET}-trades.csv"
    for op in ("stats", "range", "candles"):
        status, _, body = fetch(f"{utf8_api}/api/v1/prices/{quote(TESTNET)}/{op}?{window}")
        assert status == 200 and json.loads(body)["symbol"] == TESTNET, (op, body)


def test_an_sse_stream_of_a_utf8_name_sends_its_latest_price(utf8_api: str) -> None:
    host, port = utf8_api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        path = f"/api/v1/stream?symbols={quote(TESTNET + ',' + '币安人生usdt')}"
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        seen = b""
        while seen.count(b"event: price") < 2:
            chunk = sock.recv(65536)
            assert chunk, seen
            seen += chunk
    assert seen.startswith(b"HTTP/1.1 200") or seen.startswith(b"HTTP/1.0 200"), seen[:200]
    events = [json.loads(line[6:]) for line in seen.split(b"\n") if line.startswith(b"data: ")]
    assert {e["symbol"] for e in events} == {TESTNET, FUTURES}


def test_the_cli_asks_for_a_utf8_name(utf8_api: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tickvault", "query", "--url", utf8_api, "latest", "币安人生usdt"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert FUTURES in run.stdout and "0.15" in run.stdout
