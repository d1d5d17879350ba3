"""The cold tier's figures: bytes per trade, moving rate, and the API's answers over a cold day.

On the real recordings (34,419 trades) and on a day of the replay's synthetic market (one
symbol, ``--trades`` trades spread over 2024-08-07 UTC): store them through the writer's write
path, time reading the day's rows back from PostgreSQL, time ``move_expired`` moving the same
rows to Parquet in a local directory, and divide the files' bytes by the trades. Then, in
process (Flask test client, no HTTP server), the p50/p99 of ``at`` and of a history page at
random instants of the cold day, and ``stats`` over the whole cold day.

    python bench/cold.py [--trades 500000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.integration.api.loading import store_ticks  # noqa: E402
from tests.support.recordings import all_recorded_trades  # noqa: E402

from common import pct  # noqa: E402
from tickvault.cold.location import open_location  # noqa: E402
from tickvault.cold.move import move_expired  # noqa: E402
from tickvault.config import Settings  # noqa: E402
from tickvault.db import migrate  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402
from tickvault.tick import Source, Tick  # noqa: E402
from tickvault_api import create_app  # noqa: E402
from tickvault_api.settings import ApiSettings  # noqa: E402
from tickvault_replay.synthetic import synthetic_events  # noqa: E402

SERVER = os.environ.get(
    "TICKVAULT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SYNTHETIC_DAY = date(2024, 8, 7)
DAY_US = 86_400_000_000
_READ = text("SELECT trade_id, price, quantity, trade_time, is_buyer_maker FROM trades")


def _synthetic_ticks(count: int) -> list[Tick]:
    start = int(datetime(2024, 8, 7, tzinfo=UTC).timestamp() * 1_000_000)
    rate = count / 86_400 / 1.2  # trades per second so that *count* trades fit in the day
    out: list[Tick] = []
    for event in synthetic_events(["BTCUSDT"], seed=7, rate=rate, start_us=start):
        t = event.trade
        if t is None:
            continue
        if len(out) >= count or t.time_us >= start + DAY_US:
            break
        out.append(
            Tick(
                symbol=t.symbol,
                trade_id=t.id,
                price=t.price,
                quantity=t.qty,
                trade_time=t.time_us,
                event_time=t.event_us,
                is_buyer_maker=t.buyer_maker,
                received_at=t.time_us,
                source=Source.WS,
            )
        )
    return out


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = work()
    return time.perf_counter() - t0, result


def _api_figures(url: str, cold_url: str, symbol: str, day: date, samples: int) -> dict[str, Any]:
    settings = ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        cold_url=cold_url,
        symbols=(symbol,),
        api_cache_ttl_seconds=0,
    )
    app = create_app(settings)
    client = app.test_client()
    day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    rng = random.Random(1)
    at_s, page_s = [], []
    for _ in range(samples):
        t = day_ms + rng.randrange(86_400_000)
        dt, got = _timed(lambda t=t: client.get(f"/api/v1/prices/{symbol}/at?time={t}"))
        assert got.status_code in (200, 404), got.data[:200]
        at_s.append(dt)
        dt, got = _timed(
            lambda t=t: client.get(
                f"/api/v1/prices/{symbol}/history?start={t}&end={t + 3_600_000}&limit=1000"
            )
        )
        assert got.status_code == 200, got.data[:200]
        page_s.append(dt)
    stats_s = []
    for _ in range(3):
        dt, got = _timed(
            lambda: client.get(
                f"/api/v1/prices/{symbol}/stats?start={day_ms}&end={day_ms + 86_400_000}"
            )
        )
        assert got.status_code == 200, got.data[:200]
        stats_s.append(dt)
    app.extensions["tickvault"].stores.close()
    return {
        "at_p50_ms": round(pct(at_s, 0.5) * 1000, 1),
        "at_p99_ms": round(pct(at_s, 0.99) * 1000, 1),
        "history_page_p50_ms": round(pct(page_s, 0.5) * 1000, 1),
        "history_page_p99_ms": round(pct(page_s, 0.99) * 1000, 1),
        "stats_cold_day_ms": round(min(stats_s) * 1000),
    }


def measure(ticks: list[Tick], label: str, samples: int, server: str = SERVER) -> dict[str, Any]:
    """Store *ticks*, move their days cold, and return the figures (keys prefixed *label*)."""
    url = (
        make_url(server)
        .set(database=f"tv_cold_bench_{uuid.uuid4().hex[:8]}")
        .render_as_string(hide_password=False)
    )
    migrate.upgrade(url)
    store_ticks(url, ticks, batch=5000)
    engine = make_engine(url, application_name="tickvault-bench-cold")
    cold_dir = tempfile.mkdtemp(prefix="tv-cold-bench-")
    cold_url = f"file://{cold_dir}"
    location = open_location(Settings(_env_file=None, cold_url=cold_url))  # type: ignore[call-arg]
    assert location is not None
    try:
        with engine.connect() as conn:
            hot_bytes = conn.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'trades'::regclass"
                )
            ).scalar_one()

        def read_all() -> int:
            with engine.connect() as conn:
                return len(conn.execute(_READ).all())

        read_s, n = _timed(read_all)
        cut = max(datetime.fromtimestamp(t.trade_time / 1e6, tz=UTC) for t in ticks)
        cut = cut.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        move_s, report = _timed(lambda: move_expired(engine, location, cut))
        assert report.trades == n == len(ticks), (report.trades, n, len(ticks))
        with engine.connect() as conn:
            cold_bytes = conn.execute(text("SELECT sum(bytes) FROM cold_files")).scalar_one()
            symbol, day = conn.execute(
                text("SELECT symbol, day FROM cold_files ORDER BY rows DESC LIMIT 1")
            ).one()
        figures = {
            "trades": n,
            "hot_bytes_per_trade": round(int(hot_bytes) / n, 1),
            "cold_bytes_per_trade": round(int(cold_bytes) / n, 2),
            "pg_read_trades_per_s": round(n / read_s),
            "move_trades_per_s": round(n / move_s),
            **_api_figures(url, cold_url, symbol, day, samples),
        }
    finally:
        engine.dispose()
    return {f"cold_{label}_{k}": v for k, v in figures.items()}


def run_cold(server: str, synthetic_trades: int, samples: int = 200) -> dict[str, Any]:
    """Return the cold tier's figures on the real recordings and on a synthetic day."""
    real = [r.tick() for trades in all_recorded_trades().values() for r in trades]
    out = measure(real, "real", samples, server)
    out.update(measure(_synthetic_ticks(synthetic_trades), "synthetic", samples, server))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trades", type=int, default=500_000, help="synthetic trades in the day")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    figures = run_cold(SERVER, args.trades, args.samples)
    text_out = json.dumps(figures, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
