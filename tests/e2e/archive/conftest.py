"""An archive import against the replay exchange's archive, into a database of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import sleep
from typing import Any

import pytest
from sqlalchemy import Engine, text
from tests.private_servers import ReplayProcess, replay_process

from tickvault.db import migrate
from tickvault.db.engine import make_engine

RATE = "0.05"  # archived trades per second: 4,320 a day
MIDNIGHT_MARGIN_S = 120


def day(offset: int) -> date:
    """Return today plus *offset* days (UTC), today read at the call: a run that crosses
    midnight must not ask the replay (whose archive ends yesterday, by its own clock) for
    days of a date it has left behind."""
    return datetime.now(UTC).date() + timedelta(days=offset)


def three_days() -> tuple[str, ...]:
    """Return the import arguments of days -4 to -2."""
    return ("--from", day(-4).isoformat(), "--to", day(-2).isoformat())


@pytest.fixture(autouse=True)
def _clear_of_midnight() -> None:
    """Start no test within two minutes of UTC midnight: each reads its days from today's
    date more than once, and so do the replay's archive and the hot window."""
    now = datetime.now(UTC)
    left = (datetime.combine(now.date() + timedelta(days=1), time(), UTC) - now).total_seconds()
    if left < MIDNIGHT_MARGIN_S:
        sleep(left + 1)


@dataclass
class Archive:
    """A replay exchange serving an archive, and a migrated database to import into."""

    replay: ReplayProcess
    database_url: str
    engine: Engine

    def env(self, **extra: str) -> dict[str, str]:
        """Return the import's environment: this replay, this database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
        env.update(
            TICKVAULT_DATABASE_URL=self.database_url,
            TICKVAULT_BINANCE_REST_URL=self.replay.rest_url,
            TICKVAULT_ARCHIVE_URL=self.replay.rest_url,
            TICKVAULT_RETENTION_HOURS="0",
        )
        env.update(extra)
        return env

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start ``tickvault import ARGS`` (stdout and stderr piped), *env* added."""
        return subprocess.Popen(
            [sys.executable, "-m", "tickvault", "import", *args],
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, timeout: float = 120, **env: str) -> tuple[int, dict[str, Any], str]:
        """Run ``tickvault import ARGS --json`` (*env* added); return (status, summary, stderr)."""
        proc = self.start(*args, "--json", **env)
        out, err = proc.communicate(timeout=timeout)
        summary = json.loads(out) if out.strip() else {}
        return proc.returncode, summary, err

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Return the rows of *sql*."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params).all()]

    def rest_trades(self, symbol: str, from_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Return a ``historicalTrades`` page of the replay (µs times)."""
        query = urllib.parse.urlencode({"symbol": symbol, "fromId": from_id, "limit": limit})
        url = f"{self.replay.rest_url}/api/v3/historicalTrades?{query}"
        req = urllib.request.Request(url, headers={"X-MBX-TIME-UNIT": "MICROSECOND"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            rows: list[dict[str, Any]] = json.loads(resp.read())
        return rows


@pytest.fixture
def archive(new_database: Callable[[], str], tmp_path: Path) -> Iterator[Callable[..., Archive]]:
    """A factory: ``archive(from_day, faults=[...])`` starts a replay serving the archive
    (``limits=True``: with Binance's REST weight limits, and their accounting)."""
    stack: list[Any] = []

    def make(
        archive_from: date,
        faults: list[dict[str, Any]] | None = None,
        *,
        limits: bool = False,
        **kw: str,
    ) -> Archive:
        args = [
            "--synthetic",
            kw.get("symbols", "BTCUSDT"),
            "--archive-from",
            archive_from.isoformat(),
            "--archive-rate",
            kw.get("rate", RATE),
        ]
        if not limits:  # Binance's weight limits and their accounting
            args.append("--no-limits")
        if faults:
            script = tmp_path / f"faults-{len(stack)}.json"
            script.write_text(json.dumps({"faults": faults}))
            args += ["--faults", str(script)]
        ctx = replay_process(*args)
        replay = ctx.__enter__()
        stack.append(ctx)
        url = new_database()
        migrate.upgrade(url, create_database=False)
        engine = make_engine(url)
        stack.append(engine)
        return Archive(replay, url, engine)

    yield make
    for item in reversed(stack):
        if isinstance(item, Engine):
            item.dispose()
        else:
            item.__exit__(None, None, None)
