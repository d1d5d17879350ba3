"""The real docker-compose.yml in containers, as ``make compose-demo`` starts it.

``scripts/compose.sh demo --scale writer=3 --scale api=2`` builds what it needs (the stand-in
images where registries cannot be reached), starts the offline demo stack under a project
name and port of this test's own, and returns once the proxy answers healthy. Everything is
read from outside, through the proxy, as a user of the stack would: prices move, /metrics is
not served, and after a writer container is killed mid-run and the PostgreSQL container is
restarted, every symbol's trade ids are still contiguous. ``compose down`` leaves nothing.

Runs wherever a container engine is installed (``make test-tools`` installs podman on
Debian); without one the module is skipped, saying so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.compose_stack import (
    SYMBOLS,
    Stack,
    assert_down_leaves_nothing,
    compose_marks,
    contiguous,
    started,
    wait_for,
)

WRITERS, APIS = 3, 2

pytestmark = compose_marks()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    scale = ("--scale", f"writer={WRITERS}", "--scale", f"api={APIS}")
    with started("docker-compose.yml", f"tickvault-e2e-{os.getpid()}", *scale) as made:
        yield made


def test_prices_move_through_the_proxy(stack: Stack) -> None:
    stack.wait_prices_move()
    assert stack.get("/healthz")[0] == 200


def test_metrics_are_not_public(stack: Stack) -> None:
    status, _ = stack.get("/metrics")
    assert status == 404
    # ... yet each API replica serves them on the internal network, where Prometheus scrapes.
    inside = stack.compose(
        "engine",
        "exec",
        stack.containers("api")[0],
        "python",
        "-c",
        "import urllib.request; print(urllib.request.urlopen("
        "'http://127.0.0.1:8000/metrics', timeout=5).read().decode())",
    )
    assert "# TYPE" in inside


def test_three_writers_and_two_api_replicas(stack: Stack) -> None:
    assert len(stack.containers("writer")) == WRITERS
    assert len(stack.containers("api")) == APIS
    for writer in stack.containers("writer"):
        wait_for(
            lambda w=writer: "consuming" in stack.compose("engine", "logs", w, stderr=True),  # type: ignore[misc]
            60,
            f"{writer} to consume the stream",
        )


def test_a_killed_writer_and_a_restarted_postgres_lose_nothing(stack: Stack) -> None:
    wait_for(lambda: set(stack.latest_ids()) == set(SYMBOLS), 120, "a price of every symbol")
    victim = stack.containers("writer")[1]
    (postgres,) = stack.containers("postgres")
    started = {c: stack.started_at(c) for c in (victim, postgres)}
    before = stack.latest_ids()
    stack.compose("engine", "kill", "--signal", "KILL", victim)
    # The stream keeps flowing to the other writers; the victim's pending entries wait for it.
    wait_for(lambda: all(stack.latest_ids()[s] > before[s] for s in SYMBOLS), 60, "trades")
    stack.compose("engine", "start", victim)  # unless its restart policy did already
    stack.compose("engine", "restart", postgres)
    assert all(stack.started_at(c) != at for c, at in started.items()), "not restarted"
    assert victim in stack.containers("writer")
    restarted = datetime.now(UTC)
    # Trades after the restart are stored again ...
    after = stack.latest_ids()
    stack.wait_stored_through(after, "trades stored after the restart")
    # ... and everything up to a moment after the restart is there, ids without a hole.
    cutoff = restarted + timedelta(seconds=5)
    time.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds() + 5))
    for symbol in SYMBOLS:
        holes: list[int] = []

        def whole(symbol: str = symbol, holes: list[int] = holes) -> bool:
            ids = stack.stored_ids(symbol, cutoff)
            holes[:] = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids)) if ids else [-1]
            return contiguous(ids)

        wait_for(whole, 120, f"{symbol}'s ids to be contiguous (missing {holes[:10]})")
        assert stack.stored_ids(symbol, cutoff)[-1] >= after[symbol]
    assert stack.get("/api/v1/gaps?symbol=BTCUSDT")[1]["gaps"] == []


def test_compose_down_leaves_nothing(stack: Stack) -> None:
    assert_down_leaves_nothing(stack)
