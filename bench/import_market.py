"""How long ``tickvault import`` takes over many symbols: the figures docs/OPERATIONS.md
extrapolates the whole market from.

    python bench/import_market.py [--symbols 4] [--days 2] [--rate 5] [--rest-weight-limit N]

The replay exchange serves ``--days`` daily files of each of ``--symbols`` synthetic symbols at
``--rate`` trades a second (5: 432,000 trades a day; 0.05: 4,320). The real import
(``python -m tickvault_writer.archive``) stores them all in one run into a fresh database of a
private PostgreSQL, as a user would run it (``--json``, no terminal), then runs again over the
same range (every file already done). The replay builds each zip when it is first asked for,
so every zip is fetched once before the clock starts. Printed, all measured in this run:

- ``files``, ``trades``, ``seconds``: the first run's files, trades stored and wall clock;
- ``trades_per_s`` and ``seconds_per_file``: the same, divided;
- ``rest_calls_per_symbol``: the ``historicalTrades`` calls of the range's bounds (no holes:
  the replay serves a clean archive), which the REST budget paces as on the real exchange
  (the default budget: 6,000 x 0.5 x the archive's 0.6 = 72 calls a minute;
  ``--rest-weight-limit`` raises it, to measure the files' own cost);
- ``rerun_seconds``: the second run, which only checks checksums and bounds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from tests.private_servers import PrivatePostgres  # noqa: E402

from common import archive_replay, import_env  # noqa: E402


def _names(count: int) -> list[str]:
    """Return *count* synthetic symbol names (``BENCHAUSDT``, ``BENCHBUSDT``, ...)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"BENCH{letters[i // 26]}{letters[i % 26]}USDT" for i in range(count)]


def _build_zips(base: str, names: list[str], first: date, days: int) -> None:
    """Have the replay build every zip of the run (it writes each on the first request)."""
    for name in names:
        for offset in range(days):
            day = (first + timedelta(days=offset)).isoformat()
            url = f"{base}/data/spot/daily/trades/{name}/{name}-trades-{day}.zip"
            with urllib.request.urlopen(url, timeout=600) as resp:
                while resp.read(1 << 20):
                    pass


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Run the import; return its wall seconds and its JSON summary."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"import exited {proc.returncode}: {proc.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(proc.stdout)
    return seconds, summary


def measure(
    pg: PrivatePostgres, symbols: int, days: int, rate: float, weight_limit: int | None = None
) -> dict[str, Any]:
    """Import *symbols* x *days* files at *rate* trades a second (REST weight a minute:
    *weight_limit*, else the default); return the figures."""
    from tickvault.db import migrate

    today = datetime.now(UTC).date()
    first = today - timedelta(days=days + 1)
    last = first + timedelta(days=days - 1)
    names = _names(symbols)
    db = f"tv_import_market_{int(time.time())}"
    pg.query(f'CREATE DATABASE "{db}"')
    url = pg.url(db)
    migrate.upgrade(url)
    with archive_replay(names, first, rate) as replay:
        _build_zips(replay.rest_url, names, first, days)
        env = import_env(url, replay)
        if weight_limit is not None:
            env["TICKVAULT_COLLECTOR_REST_WEIGHT_LIMIT"] = str(weight_limit)
        argv = [sys.executable, "-m", "tickvault_writer.archive", *names]
        argv += ["--from", first.isoformat(), "--to", last.isoformat(), "--json"]
        seconds, summary = _run(argv, env)
        rerun_seconds, again = _run(argv, env)
    reports = summary["symbols"]
    if not summary["complete"] or not again["complete"]:
        raise RuntimeError("the import did not complete")
    files = sum(len(r["files"]) for r in reports)
    trades = sum(r["rows"] for r in reports)
    return {
        "symbols": symbols,
        "days": days,
        "rate": rate,
        "rest_weight_limit": weight_limit or "default (6000)",
        "files": files,
        "trades": trades,
        "seconds": round(seconds, 1),
        "trades_per_s": round(trades / seconds),
        "seconds_per_file": round(seconds / files, 2),
        "rest_calls_per_symbol": round(sum(r["rest_calls"] for r in reports) / symbols, 1),
        "rerun_seconds": round(rerun_seconds, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--symbols", type=int, default=4)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--rate", type=float, default=5.0)
    p.add_argument("--rest-weight-limit", type=int, default=None)
    args = p.parse_args()
    with PrivatePostgres() as pg:
        figures = measure(pg, args.symbols, args.days, args.rate, args.rest_weight_limit)
    for key, value in figures.items():
        print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
