"""What the benchmark and chaos runners share: the services as processes, and small helpers.

A :class:`Stack` is one deployment on private servers (:mod:`tests.private_servers`): its own
database and Redis prefix, the replay exchange, collectors and writers started as the real
console scripts (``python -m tickvault_*``) with ``TICKVAULT_*`` variables, each logging to
a file in the run directory. :class:`Service` can be SIGKILLed, restarted and measured (RSS).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.private_servers import ReplayProcess, replay_process  # noqa: E402
from tests.support.paths import TRADE_RECORDINGS  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def pct(values: list[float], q: float) -> float:
    """Return the *q* quantile of *values* (nearest rank), or NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def appended(client: Any, stream: str) -> int:
    """Return how many entries were ever appended to *stream* (the collector trims what every
    consumer group acknowledged, so its length is not that); 0 before it exists."""
    try:
        return int(client.xinfo_stream(stream)["entries-added"])
    except redis.ResponseError as exc:  # a missing stream answers an error reply
        if "no such key" in str(exc).lower():
            return 0
        raise


def _stat(pid: int | str) -> list[str]:
    """Return the fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def forget(client: Any, prefix: str) -> None:
    """Delete every Redis key under *prefix* (on every node of a cluster)."""
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds process *pid* has used."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """Return the CPU seconds of process *pid*, of the children it has reaped and of those
    that still run (a PostgreSQL postmaster and its backends, short-lived ones included)."""
    fields = _stat(pid)
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(entry.name)
        except OSError:  # gone meanwhile
            continue
        if int(child[1]) == pid:
            ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Return the resident set size of process *pid* in MiB (NaN when it is gone); its peak
    so far with ``field="VmHWM"``."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    """Describe this machine and checkout: CPUs, memory, CPU model, kernel, git commit."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = float("nan")
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_gb = round(int(first.split()[1]) / 1024 / 1024, 1)
    commit = (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "memory_gb": mem_gb,
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty": bool(dirty),
    }


def save(results: dict[str, Any], out: Path, started: datetime, *, latest: bool = True) -> Path:
    """Write *results* as ``<out>/<UTC stamp of started>.json`` and (with *latest*)
    ``<out>/latest.json``; return the latter, or the dated file without *latest*."""
    out.mkdir(parents=True, exist_ok=True)
    body = json.dumps(results, indent=2, sort_keys=True) + "\n"
    dated = out / f"{started:%Y%m%dT%H%M%SZ}.json"
    dated.write_text(body)
    if not latest:
        return dated
    (out / "latest.json").write_text(body)
    return out / "latest.json"


@dataclass
class Service:
    """One service process, restartable with the same command and environment."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Service:
        """Start (or start again) the process, appending to its log."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_path.parent
        )
        log.close()
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        """Return the process id."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """Return whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        """Return the process's resident memory in MiB."""
        return rss_mb(self.pid) if self.alive() else float("nan")

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM the process; SIGKILL it if it does not exit in *timeout*; return status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        """Return the last *lines* of the log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    """One tickvault deployment on given servers: database URL, Redis URL and prefix."""

    database_url: str
    redis_url: str
    prefix: str
    run_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    @classmethod
    def migrated(
        cls, database_url: str, redis_url: str, prefix: str, run_dir: Path, **env: str
    ) -> Stack:
        """Return a stack on a database brought to the latest schema, with *env* on top."""
        from tickvault.db import migrate

        migrate.upgrade(database_url)
        return cls(database_url, redis_url, prefix, run_dir, extra_env=env)

    def env(self, replay: ReplayProcess | None = None, **more: str) -> dict[str, str]:
        """Return the environment of a service of this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
        env.update(
            {
                "TICKVAULT_DATABASE_URL": self.database_url,
                "TICKVAULT_API_DATABASE_URL": self.database_url,
                "TICKVAULT_REDIS_URL": self.redis_url,
                "TICKVAULT_REDIS_PREFIX": self.prefix,
                "TICKVAULT_SYMBOLS": ",".join(SYMBOLS),
                "TICKVAULT_RETENTION_HOURS": "0",  # the recordings are from 2024: keep them
                "TICKVAULT_CANDLE_RETENTION_DAYS": "0",
                "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
                "TICKVAULT_WRITER_METRICS_PORT": "0",
                "TICKVAULT_LOG_LEVEL": "INFO",
            }
        )
        if replay is not None:
            env["TICKVAULT_BINANCE_WS_URL"] = replay.ws_url
            env["TICKVAULT_BINANCE_REST_URL"] = replay.rest_url
        env.update(self.extra_env)
        env.update(more)
        return env

    def service(self, name: str, module: str, env: dict[str, str], *args: str) -> Service:
        """Start ``python -m <module> ARGS`` as service *name*."""
        svc = Service(
            name, [sys.executable, "-m", module, *args], env, self.run_dir / f"{name}.log"
        ).start()
        self.services.append(svc)
        return svc

    def collector(self, name: str, replay: ReplayProcess, **more: str) -> Service:
        """Start a collector reading the replay exchange."""
        env = self.env(replay, TICKVAULT_COLLECTOR_INSTANCE=name, **more)
        return self.service(name, "tickvault_collector", env)

    def writer(self, name: str, **more: str) -> Service:
        """Start a writer replica with a stable consumer name (so a restart resumes it)."""
        return self.service(
            name, "tickvault_writer", self.env(TICKVAULT_WRITER_CONSUMER=name, **more)
        )

    def stop_all(self) -> None:
        """SIGTERM every service still running (SIGKILL after a grace period)."""
        for svc in reversed(self.services):
            svc.stop(30)


@contextlib.contextmanager
def replay(*args: str) -> Iterator[ReplayProcess]:
    """Run the replay exchange over both real trade recordings with extra *args*."""
    recordings: list[str] = []
    for path in TRADE_RECORDINGS:
        recordings += ["--recording", str(path)]
    with replay_process(*recordings, *args) as proc:
        yield proc


def released(replay_proc: ReplayProcess) -> dict[str, tuple[int, int]]:
    """Return ``{symbol: (first_trade_id, last_trade_id)}`` the replay has released so far."""
    stats = replay_proc.stats()["symbols"]
    return {
        s: (int(v["first_trade_id"]), int(v["last_trade_id"]))
        for s, v in stats.items()
        if v.get("last_trade_id") is not None
    }


@contextlib.contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """Yield the URL of a new, migrated database on *server* (a PostgreSQL URL), named
    *prefix* and a random suffix; it is dropped on the way out, however the run ends."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tickvault.db import migrate
    from tickvault.db.engine import make_engine

    name = f"{prefix}_{os.getpid()}_{os.urandom(4).hex()}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    admin = make_engine(server, isolation_level="AUTOCOMMIT")
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def archive_replay(
    symbols: Sequence[str], first: date, rate: float
) -> contextlib.AbstractContextManager[ReplayProcess]:
    """Start the replay exchange serving the archive of the synthetic *symbols* from *first*
    at *rate* trades a second each, without weight limits."""
    return replay_process(
        "--synthetic",
        ",".join(symbols),
        "--archive-from",
        first.isoformat(),
        "--archive-rate",
        str(rate),
        "--no-limits",
        timeout=60,
    )


def import_env(database_url: str, replay_proc: ReplayProcess) -> dict[str, str]:
    """Return the environment of ``tickvault import`` into *database_url* from *replay_proc*'s
    archive and REST (imported trades kept: no retention)."""
    return {
        "TICKVAULT_DATABASE_URL": database_url,
        "TICKVAULT_BINANCE_REST_URL": replay_proc.rest_url,
        "TICKVAULT_ARCHIVE_URL": replay_proc.rest_url,
        "TICKVAULT_RETENTION_HOURS": "0",
        "PATH": "/usr/bin:/bin",
    }
