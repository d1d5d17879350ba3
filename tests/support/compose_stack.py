"""A compose stack in containers, started by scripts/compose.sh as ``make compose-demo``
starts it, under a project name and port of the test's own, and read from outside through
its proxy (tests/e2e/deploy)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_until

from tickvault.cli.up import free_port

COMPOSE = REPO_ROOT / "scripts" / "compose.sh"
SYMBOLS = ("BTCUSDT", "ETHUSDT")  # what the offline demo stacks replay


def engine_present() -> bool:
    """Return whether a container engine compose.sh can drive is installed."""
    docker = shutil.which("docker") is not None and (
        subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )
    podman = shutil.which("podman") is not None and (
        shutil.which("podman-compose") is not None
        or (REPO_ROOT / ".venv/bin/podman-compose").exists()
    )
    return docker or podman


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
            cwd=REPO_ROOT,
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

    def started_at(self, container: str) -> str:
        """Return when *container* last started, as the engine says."""
        return self.compose("engine", "inspect", "-f", "{{.State.StartedAt}}", container).strip()

    def logs(self, service: str, lines: int = 60) -> str:
        """Return the last *lines* each container of *service* logged (for a failure message)."""
        return "\n".join(
            f"--- {name}\n"
            + self.compose("engine", "logs", "--tail", str(lines), name, stderr=True)
            for name in self.containers(service)
        )

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
        assert status == 200, f"{body}\n{self.logs('api')}"
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
            assert status == 200, f"{body}\n{self.logs('api')}"
            ids += [int(t["trade_id"]) for t in body["trades"]]
            if not body["next_cursor"]:
                return ids
            cursor = body["next_cursor"]

    def wait_prices_move(self) -> dict[str, int]:
        """Wait for a price of every symbol, then for newer trades of each; return the
        latest ids seen first."""
        wait_for(lambda: set(self.latest_ids()) == set(SYMBOLS), 120, "a price of every symbol")
        first = self.latest_ids()
        wait_for(lambda: all(self.latest_ids()[s] > first[s] for s in SYMBOLS), 60, "new trades")
        return first

    def wait_stored_through(self, ids: dict[str, int], what: str) -> None:
        """Wait until every symbol's stored trades reach its id in *ids*."""
        wait_for(
            lambda: all(
                self.stored_ids(s, datetime.now(UTC) + timedelta(minutes=1))[-1:] >= [ids[s]]
                for s in SYMBOLS
            ),
            120,
            what,
        )


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll *check* every second until it holds; fail naming *what* after *seconds*."""
    wait_until(check, seconds, what, 1.0)


@contextmanager
def started(file: str, project: str, *args: str) -> Iterator[Stack]:
    """Start the demo stack of compose *file* (``compose.sh demo ARGS``) as *project* on a
    free port; bring it down on the way out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    env |= {"COMPOSE_FILE": file, "COMPOSE_PROJECT_NAME": project, "HTTP_PORT": str(free_port())}
    made = Stack(project, int(env["HTTP_PORT"]), env)
    try:
        made.compose("demo", *args)
        yield made
    finally:
        made.compose("down", timeout=300)


def contiguous(ids: list[int]) -> bool:
    """Return whether *ids* are consecutive integers (and there is at least one)."""
    return bool(ids) and ids == list(range(ids[0], ids[0] + len(ids)))


def assert_down_leaves_nothing(stack: Stack) -> None:
    """Run ``compose.sh down``; check no container, network or volume of the stack is left,
    the anonymous volumes of images' VOLUMEs included."""
    containers = stack.containers(every=True)
    assert containers
    mounts = "{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}"
    used = set(stack.compose("engine", "inspect", "-f", mounts, *containers).split())
    stack.compose("down", timeout=300)
    assert stack.containers(every=True) == []
    networks = stack.compose("engine", "network", "ls", "--format", "{{.Name}}").split()
    assert not [n for n in networks if n.startswith(stack.project)]
    volumes = set(stack.compose("engine", "volume", "ls", "--format", "{{.Name}}").split())
    assert used and not used & volumes
    assert not [v for v in volumes if v.startswith(stack.project)]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/healthz", timeout=5)


def compose_marks() -> list[pytest.MarkDecorator]:
    """Return the marks of a module of compose tests: skipped, saying so, without an engine."""
    return [
        pytest.mark.compose,
        pytest.mark.timeout(1200),
        pytest.mark.skipif(
            not engine_present(), reason="no container engine (make test-tools installs podman)"
        ),
    ]
