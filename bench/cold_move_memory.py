"""The peak memory (RSS) of moving one busy symbol-day to the cold tier.

Fills a fresh database with ``--trades`` trades of one symbol on 2024-08-07 UTC (generated
inside PostgreSQL, so this process holds none of them), moves the day to Parquet in a local
directory with ``move_expired``, and prints the process's peak RSS before and after the move,
the move's time, and the file's bytes per trade.

    python bench/cold_move_memory.py [--trades 2000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from tickvault.cold.location import open_location
from tickvault.cold.move import move_expired
from tickvault.config import Settings
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault.db.partitions import TRADES, ensure_partitions

SERVER = os.environ.get(
    "TICKVAULT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DAY = datetime(2024, 8, 7, tzinfo=UTC)
_FILL = text(
    "INSERT INTO trades (symbol, trade_time, trade_id, price, quantity, event_time, "
    "is_buyer_maker, received_at) "
    "SELECT 'BTCUSDT', t, 3000000000 + i, round(60000 + (i % 5000) * 0.01, 8), "
    "round(0.00001 * (1 + (i * 7919) % 100000), 8), t, i % 3 = 0, t "
    "FROM generate_series(0::bigint, :n - 1) AS i, "
    "LATERAL (SELECT :day + make_interval(secs => i * 86399.0 / :n)) AS at(t)"
)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _drop(url: str) -> None:
    server = make_engine(SERVER, application_name="tickvault-bench-cold-rss")
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))
    server.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trades", type=int, default=2_000_000)
    args = p.parse_args()
    url = (
        make_url(SERVER)
        .set(database=f"tv_cold_rss_{uuid.uuid4().hex[:8]}")
        .render_as_string(hide_password=False)
    )
    migrate.upgrade(url)
    engine = make_engine(url, application_name="tickvault-bench-cold-rss")
    with engine.begin() as conn:
        ensure_partitions(conn, TRADES, [DAY + timedelta(hours=h) for h in range(24)])
        conn.execute(_FILL, {"n": args.trades, "day": DAY})
    cold_dir = tempfile.mkdtemp(prefix="tv-cold-rss-")
    location = open_location(Settings(_env_file=None, cold_url=f"file://{cold_dir}"))  # type: ignore[call-arg]
    assert location is not None
    before = _peak_rss_mb()
    started = time.perf_counter()
    report = move_expired(engine, location, DAY + timedelta(days=1))
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        cold_bytes = conn.execute(text("SELECT sum(bytes) FROM cold_files")).scalar_one()
    engine.dispose()
    _drop(url)
    figures = {
        "trades": report.trades,
        "peak_rss_mb_before_move": round(before, 1),
        "peak_rss_mb_after_move": round(_peak_rss_mb(), 1),
        "move_seconds": round(seconds, 1),
        "cold_bytes_per_trade": round(int(cold_bytes) / report.trades, 2),
        "code": str(Path(sys.modules["tickvault"].__file__ or "").parent),
    }
    print(json.dumps(figures, indent=1))
    return 0 if report.trades == args.trades else 1


if __name__ == "__main__":
    raise SystemExit(main())
