"""Run tickvault's services as real subprocesses for end-to-end tests, each logging to a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.private_servers.replay import replay_process
from tests.support.paths import BTC_TRADES, ETH_TRADES


def stack_env(database_url: str, redis_url: str, redis_prefix: str, **more: str) -> dict[str, str]:
    """Return the environment of a test's services: this test's database and Redis prefix,
    no metrics ports, writers that claim idle entries soon, and *more* (``TICKVAULT_`` names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    env.update(
        {
            "TICKVAULT_DATABASE_URL": database_url,
            "TICKVAULT_REDIS_URL": redis_url,
            "TICKVAULT_REDIS_PREFIX": redis_prefix,
            "TICKVAULT_WRITER_METRICS_PORT": "0",
            "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
            "TICKVAULT_WRITER_CLAIM_IDLE_MS": "2000",
        }
    )
    env.update({f"TICKVAULT_{k}": v for k, v in more.items()})
    return env


class Services:
    """The service processes of one test (``python -m <module>``), with their logs."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, module: str, **env: str) -> None:
        """Start ``python -m module`` as *name*, with *env* on top of the shared variables."""
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.logs,
            )

    def log(self, name: str) -> str:
        """Return what *name* logged so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send *sig* to *name* (SIGSTOP freezes it, SIGCONT thaws it)."""
        self.procs[name].send_signal(sig)

    def running(self, name: str) -> bool:
        """Return whether *name* still runs."""
        return self.procs[name].poll() is None

    def terminate(self) -> dict[str, int]:
        """SIGTERM every process; return their exit statuses."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(30) for name, proc in self.procs.items()}
        self.procs.clear()
        return codes

    def kill(self) -> None:
        """SIGKILL whatever still runs."""
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)


@contextmanager
def recording_services(
    logs: Path, database_url: str, redis_url: str, redis_prefix: str, **more: str
) -> Iterator[Services]:
    """Yield the services of a test replaying the 2024 recordings of BTCUSDT and ETHUSDT
    (retention off, so their partitions stay), killed at the end whatever happened."""
    env = stack_env(
        database_url,
        redis_url,
        redis_prefix,
        SYMBOLS="BTCUSDT,ETHUSDT",
        RETENTION_HOURS="0",
        CANDLE_RETENTION_DAYS="0",
        **more,
    )
    made = Services(env, logs)
    try:
        yield made
    finally:
        made.kill()


@contextmanager
def replayed_services(
    logs: Path, database_url: str, redis_url: str, redis_prefix: str, *, speed: int, **more: str
) -> Iterator[Services]:
    """Yield :func:`recording_services` wired to a replay exchange that serves both recordings
    at *speed* times their pace (the services still have to be started)."""
    recordings = ("--recording", str(BTC_TRADES), "--recording", str(ETH_TRADES))
    with (
        replay_process(*recordings, "--speed", str(speed)) as replay,
        recording_services(
            logs,
            database_url,
            redis_url,
            redis_prefix,
            BINANCE_WS_URL=replay.ws_url,
            BINANCE_REST_URL=replay.rest_url,
            **more,
        ) as services,
    ):
        yield services
