"""200 live-stream clients on the API as ``make demo`` starts it, and the API keeps answering.

``tickvault up --replay`` (the seeded synthetic market, recorded pace) runs the replay
exchange, collector, writer and API with this test's own database and Redis prefix. Then
200 Server-Sent-Events clients (half over HTTP/1.0, half over HTTP/1.1 with a chunked body,
as browsers; 20 of them with ``symbols=ETHUSDT``) stay connected while ``/healthz`` and
``/api/v1/prices/latest`` are asked twice a second: every answer must come within 1 s, and
every client must keep receiving price events, in the first and in the last part of the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from tests.support.cli import stack_env, terminate
from tests.support.polling import wait_until
from tests.support.redis_keys import delete_prefix
from tests.support.sse import SseClients

from tickvault.cli.up import free_port

CLIENTS = 200
FILTERED = 20  # of them ask for ETHUSDT alone
OBSERVE_S = 24.0
ANSWER_BOUND_S = 1.0
START_BOUND_S = 60.0


def wait_for(condition: Callable[[], bool], bound: float, what: str, log: Path) -> None:
    """Wait until *condition* holds; fail after *bound* seconds with the stack's log."""
    wait_until(
        condition, bound, what, 0.25, context=lambda: log.read_text(errors="replace")[-4000:]
    )


def get(url: str) -> tuple[int, bytes, float]:
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read()
        return response.status, body, time.monotonic() - t0


@pytest.fixture
def demo(
    new_database: Callable[[], str], redis_url: str, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """``tickvault up --replay`` on this test's database and prefix; yields the API's URL."""
    api_port = free_port()
    prefix = f"tvtest:streams{os.getpid()}"
    env = stack_env(new_database(), redis_url, prefix, api_port)
    log = tmp_path / "up.log"
    tickvault = str(Path(sys.executable).with_name("tickvault"))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [tickvault, "up", "--replay"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_for(lambda: "tickvault is up" in log.read_text(), START_BOUND_S, "the stack", log)
        yield f"http://127.0.0.1:{api_port}", log
    finally:
        terminate(process)
        delete_prefix(redis_url, prefix)


def test_200_streams_leave_health_and_latest_answering_and_all_receive_prices(
    demo: tuple[str, Path],
) -> None:
    api, log = demo

    def both_priced() -> bool:
        prices = msgspec.json.decode(get(api + "/api/v1/prices/latest")[1])["prices"]
        return {p["symbol"] for p in prices} == {"BTCUSDT", "ETHUSDT"}

    wait_for(both_priced, START_BOUND_S, "both symbols' first prices", log)
    port = int(api.rpartition(":")[2])
    both, eth = {b"BTCUSDT", b"ETHUSDT"}, {b"ETHUSDT"}
    plans = [  # (path, HTTP/1.1, clients, the symbols they must get)
        ("/api/v1/stream", False, CLIENTS - FILTERED - CLIENTS // 2, both),
        ("/api/v1/stream", True, CLIENTS // 2, both),
        ("/api/v1/stream?symbols=ETHUSDT", True, FILTERED, eth),
    ]
    groups = [SseClients("127.0.0.1", port, path, n, http11=v11) for path, v11, n, _ in plans]
    try:
        for group in groups:
            group.start()
        everyone = [
            (c, plan[3]) for group, plan in zip(groups, plans, strict=True) for c in group.clients
        ]
        assert len(everyone) == CLIENTS and {c.status for c, _ in everyone} == {200}
        assert [c.chunked for c, _ in everyone].count(True) == CLIENTS // 2 + FILTERED
        started = time.time()
        slowest: dict[str, float] = {"/healthz": 0.0, "/api/v1/prices/latest": 0.0}
        while time.time() - started < OBSERVE_S:
            for path in slowest:
                status, _, took = get(api + path)
                assert status == 200
                slowest[path] = max(slowest[path], took)
            time.sleep(0.5)
        ended = time.time()
    finally:
        for group in groups:
            group.close()
    assert max(slowest.values()) < ANSWER_BOUND_S, slowest
    early, late = started + OBSERVE_S / 3, ended - OBSERVE_S / 3
    for i, (client, symbols) in enumerate(everyone):
        assert not client.closed and not client.errors, (i, client.errors)
        assert any(started <= t < early for t in client.arrivals), f"client {i}: nothing early"
        assert any(t >= late for t in client.arrivals), f"client {i}: nothing late"
        # a symbol's trade ids only ever grow on a stream, the first (snapshot) events included
        per_symbol: dict[bytes, list[int]] = {}
        for symbol, trade_id in zip(client.symbols, client.trade_ids, strict=True):
            per_symbol.setdefault(symbol, []).append(trade_id)
        assert set(per_symbol) == symbols, i  # a symbols= filter is kept
        for ids in per_symbol.values():
            assert ids == sorted(set(ids)), (i, ids)
    assert sum(c.events for c, _ in everyone) > CLIENTS * 10
