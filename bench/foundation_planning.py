"""Measure how the number of hourly ``trades`` partitions affects the API's query shapes.

For each partition count (default 24, 168, 720, 2160: a day, a week, a month, 90 days of
hourly partitions) one fresh database is filled with one synthetic trade every 37 seconds,
then each query runs 7 times under ``EXPLAIN (ANALYZE)``; the median planning and execution
times are printed. Each unbounded shape is paired with a bounded one (the baseline) that
gives the planner a plain ``trade_time`` lower bound it can prune partitions with.

    python bench/foundation_planning.py [--counts 24,168,720,2160] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, text  # noqa: E402

from common import scratch_database  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402
from tickvault.db.partitions import TRADES, ensure_partitions  # noqa: E402

SERVER = os.environ.get(
    "TICKVAULT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
END = datetime(2024, 8, 9, tzinfo=UTC)
T = "2024-08-08 12:00:01+00"
SELECT = "SELECT * FROM trades WHERE symbol = 'BTCUSDT' AND "
QUERIES = {
    "latest_before_t": SELECT
    + f"trade_time < '{T}' ORDER BY trade_time DESC, trade_id DESC LIMIT 1",
    # The bound is a constant: ``timestamptz - interval`` is only stable, so it would prune
    # at execution, after the planner has already planned every partition.
    "latest_before_t_1h_lookback": SELECT + f"trade_time < '{T}' "
    "AND trade_time >= '2024-08-08 11:00:01+00' "
    "ORDER BY trade_time DESC, trade_id DESC LIMIT 1",
    "keyset_page": SELECT + "trade_time >= '2024-08-01' AND trade_time < '2024-08-09' "
    "AND (trade_time, trade_id) > ('2024-08-08 11:30+00', 5) "
    "ORDER BY trade_time, trade_id LIMIT 500",
    "keyset_page_cursor_bound": SELECT + "trade_time >= '2024-08-08 11:30+00' "
    "AND trade_time < '2024-08-09' AND (trade_time, trade_id) > ('2024-08-08 11:30+00', 5) "
    "ORDER BY trade_time, trade_id LIMIT 500",
}
FILL = text(
    "INSERT INTO trades SELECT 'BTCUSDT', g, extract(epoch FROM g)::bigint, 61837.63, 0.02,"
    " g, false, g FROM generate_series(CAST(:start AS timestamptz),"
    " CAST(:end AS timestamptz), interval '37 seconds') g ON CONFLICT DO NOTHING"
)


def timings(conn: Connection, sql: str, runs: int = 7) -> dict[str, float]:
    """Return the median planning and execution milliseconds of *sql*."""
    plans, execs = [], []
    for _ in range(runs):
        result = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar_one()[0]
        plans.append(result["Planning Time"])
        execs.append(result["Execution Time"])
    return {
        "planning_ms": round(statistics.median(plans), 2),
        "execution_ms": round(statistics.median(execs), 2),
    }


def measure(url: str, counts: list[int]) -> dict[str, Any]:
    """Grow the partition count step by step and time every query shape at each step."""
    engine = make_engine(url)
    out: dict[str, Any] = {}
    try:
        for count in counts:
            start = END - timedelta(hours=count)
            with engine.begin() as conn:
                ensure_partitions(conn, TRADES, [start + timedelta(hours=h) for h in range(count)])
                conn.execute(FILL, {"start": start, "end": END - timedelta(seconds=1)})
            with engine.connect() as conn:
                conn.execute(text("ANALYZE trades"))
                out[str(count)] = {name: timings(conn, sql) for name, sql in QUERIES.items()}
            print(count, json.dumps(out[str(count)]), flush=True)
    finally:
        engine.dispose()
    return out


def main() -> int:
    """Run the measurement in a throw-away database and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="24,168,720,2160")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    with scratch_database(SERVER, "tickvault_bench_planning") as url:
        figures = measure(url, counts)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
