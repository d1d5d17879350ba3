"""Measure what one stored trade costs on disk: table, indexes and TOAST, per row.

Loads every trade of both real recordings (34,419 trades) through the models into a fresh,
migrated database, runs ``VACUUM ANALYZE``, and divides ``pg_total_relation_size`` of all
``trades`` partitions by the row count. The baseline, measured in the same run, is the raw
Binance JSON frame of each trade as it arrived on the WebSocket.

    python bench/foundation_storage.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.dialects.postgresql import insert  # noqa: E402
from tests.support.recordings import RecordedTrade, all_recorded_trades  # noqa: E402

from common import scratch_database  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402
from tickvault.db.models import Trade  # noqa: E402
from tickvault.db.partitions import TRADES, ensure_partitions  # noqa: E402
from tickvault.tick import us_to_datetime  # noqa: E402

SERVER = os.environ.get(
    "TICKVAULT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SIZES = text(
    "SELECT count(*), sum(pg_relation_size(c.oid))::bigint, sum(pg_indexes_size(c.oid))::bigint,"
    " sum(pg_total_relation_size(c.oid))::bigint FROM pg_inherits i"
    " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'trades'::regclass"
)


def row(trade: RecordedTrade) -> dict[str, Any]:
    at = us_to_datetime(trade.trade_time_ms * 1000)
    return {
        "symbol": trade.symbol,
        "trade_id": trade.trade_id,
        "price": Decimal(trade.price),
        "quantity": Decimal(trade.quantity),
        "trade_time": at,
        "event_time": us_to_datetime(trade.event_time_ms * 1000),
        "is_buyer_maker": trade.is_buyer_maker,
        "received_at": us_to_datetime(trade.received_ns // 1000),
    }


def measure(url: str, trades: list[RecordedTrade]) -> dict[str, Any]:
    """Load *trades* into the database at *url* and return its size figures."""
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        rows = [row(t) for t in trades]
        with engine.begin() as conn:
            ensure_partitions(conn, TRADES, (r["trade_time"] for r in rows))
            conn.execute(insert(Trade).on_conflict_do_nothing(), rows)
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE trades"))
            stored = conn.execute(text("SELECT count(*) FROM trades")).scalar_one()
            partitions, heap, indexes, total = conn.execute(SIZES).one()
    finally:
        engine.dispose()
    raw = sum(len(t.raw.encode()) for t in trades)
    return {
        "trades": stored,
        "partitions": partitions,
        "heap_bytes_per_trade": round(heap / stored, 1),
        "index_bytes_per_trade": round(indexes / stored, 1),
        "total_bytes_per_trade": round(total / stored, 1),
        "raw_frame_bytes_per_trade": round(raw / len(trades), 1),
        "total_vs_raw_frame": round(total / raw, 3),
    }


def main() -> int:
    """Run the measurement in a throw-away database and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    trades = [t for by_symbol in all_recorded_trades().values() for t in by_symbol]
    with scratch_database(SERVER, "tickvault_bench_storage") as url:
        figures = measure(url, trades)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
