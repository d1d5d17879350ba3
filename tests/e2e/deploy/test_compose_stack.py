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

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tickvault.cli.up import free_port

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "scripts" / "compose.sh"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
WRITERS, APIS = 3, 2


def engine_present() -> bool:
    """Return whether a container engine compose.sh can drive is installed."""
    docker = shutil.which("docker") is not None and (
        subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )
    podman = shutil.which("podman") is not None and (
        shutil.which("podman-compose") is not None or (ROOT / ".venv/bin/podman-compose").exists()
    )
    return docker or podman


pytestmark = [
    pytest.mark.compose,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        not engine_present(), reason="no container engine (make test-tools installs podman)"
    ),
]


@dataclass
class Stack:
    """A compose project started by scripts/compose.sh, reached on 127.0.0.1:port."""

    project: str
    port: int
    env: dict[str, str]

    def compose(self, *args: str, timeout: float = 900, stderr: bool = False) -> str:
        """Run ``scripts/compose.sh ARGS`` for this project; return its output (with what it
        wrote to stderr too when *stderr*)."""
        done = subprocess.run(
            ["bash", str(COMPOSE), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"compose.sh {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + (done.stderr if stderr else "")

    def containers(self, service: str | None = None, every: bool = False) -> list[str]:
        """Return the names of this project's containers (running ones unless *every*)."""
        args = ["engine", "ps", "--format", "{{.Names}}"] + (["-a"] if every else [])
        args += ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        return sorted(self.compose(*args).split())

    def get(self, path: str) -> tuple[int, Any]:
        """GET *path* through the proxy; return the status and the body (decoded when JSON)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            with refused:
                body = refused.read().decode()
                json_body = refused.headers.get_content_type() == "application/json"
                return refused.code, json.loads(body) if json_body else body

    def latest_ids(self) -> dict[str, int]:
        """Return the latest trade id of every symbol, read through the proxy."""
        status, body = self.get("/api/v1/prices/latest")
        assert status == 200, body
        return {p["symbol"]: int(p["trade_id"]) for p in body["prices"]}

    def stored_ids(self, symbol: str, end: datetime) -> list[int]:
        """Return every stored trade id of *symbol* before *end*, paging the history API."""
        start = (end - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        until = end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        ids: list[int] = []
        cursor = ""
        while True:
            path = f"/api/v1/prices/{symbol}/history?start={start}&end={until}&limit=1000"
            status, body = self.get(path + (f"&cursor={cursor}" if cursor else ""))
            assert status == 200, body
            ids += [int(t["trade_id"]) for t in body["trades"]]
            if not body["next_cursor"]:
                return ids
            cursor = body["next_cursor"]


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll *check* until it holds; fail naming *what* after *seconds*."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    project = f"tickvault-e2e-{os.getpid()}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    env |= {k: v for k, v in os.environ.items() if k.endswith("_IMAGE")}
    env |= {"COMPOSE_PROJECT_NAME": project, "HTTP_PORT": str(port)}
    made = Stack(project, port, env)
    try:
        made.compose("demo", "--scale", f"writer={WRITERS}", "--scale", f"api={APIS}")
        yield made
    finally:
        made.compose("down", timeout=300)


def test_prices_move_through_the_proxy(stack: Stack) -> None:
    wait_for(lambda: set(stack.latest_ids()) == set(SYMBOLS), 120, "a price of every symbol")
    first = stack.latest_ids()
    wait_for(
        lambda: all(stack.latest_ids()[s] > first[s] for s in SYMBOLS), 60, "newer trades"
    )
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


def contiguous(ids: list[int]) -> bool:
    return bool(ids) and ids == list(range(ids[0], ids[0] + len(ids)))


def test_a_killed_writer_and_a_restarted_postgres_lose_nothing(stack: Stack) -> None:
    wait_for(lambda: set(stack.latest_ids()) == set(SYMBOLS), 120, "a price of every symbol")
    victim = stack.containers("writer")[1]
    before = stack.latest_ids()
    stack.compose("engine", "kill", "--signal", "KILL", victim)
    # The stream keeps flowing to the other writers; the victim's pending entries wait for it.
    wait_for(lambda: all(stack.latest_ids()[s] > before[s] for s in SYMBOLS), 60, "trades")
    assert victim not in stack.containers("writer")
    stack.compose("engine", "start", victim)
    (postgres,) = stack.containers("postgres")
    started = stack.compose("engine", "inspect", "-f", "{{.State.StartedAt}}", postgres)
    stack.compose("engine", "restart", postgres)
    assert stack.compose("engine", "inspect", "-f", "{{.State.StartedAt}}", postgres) != started
    assert victim in stack.containers("writer")
    restarted = datetime.now(UTC)
    # Trades after the restart are stored again ...
    after = stack.latest_ids()
    wait_for(
        lambda: all(
            stack.stored_ids(s, datetime.now(UTC) + timedelta(minutes=1))[-1:] >= [after[s]]
            for s in SYMBOLS
        ),
        120,
        "trades stored after the restart",
    )
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
    assert stack.containers(every=True)
    stack.compose("down", timeout=300)
    assert stack.containers(every=True) == []
    networks = stack.compose("engine", "network", "ls", "--format", "{{.Name}}").split()
    assert not [n for n in networks if n.startswith(stack.project)]
    volumes = stack.compose("engine", "volume", "ls", "--format", "{{.Name}}").split()
    assert not [v for v in volumes if v.startswith(stack.project)]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/healthz", timeout=5)
