"""The cold tier's figures: bytes per trade, moving rate, and the API's answers over a cold day.

On the real recordings (34,419 trades) and on a day of the replay's synthetic market (one
symbol, ``--trades`` trades spread over 2024-08-07 UTC): store them through the writer's write
path, time reading the day's rows back from PostgreSQL, time ``move_expired`` moving the same
rows to Parquet in a local directory, and divide the files' bytes by the trades. Then, in
process (Flask test client, no HTTP server), the p50/p99 of ``at`` and of a history page at
random instants of the cold day, and ``stats`` over the whole cold day.

Then many small cold days (``--days``, default 365, of ``--day-trades`` trades each, stored
straight into the cold tier as the archive import does): ``range`` and ``stats`` with no
window and with a wide one (from the middle of the second day on), first with the files listed
without their aggregates (as before migration 0006: every file is read, the code path of
before), then with them (filled by ``fill_aggregates``, timed too), in the same run; the
answers must be byte-identical.

    python bench/cold.py [--trades 500000] [--days 365] [--day-trades 1000] [--json PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
from sqlalchemy import text  # noqa: E402
from tests.integration.api.loading import store_ticks  # noqa: E402
from tests.private_servers import free_port  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.recordings import all_recorded_trades  # noqa: E402

from api_latency import timed  # noqa: E402
from common import pct, scratch_database  # noqa: E402
from tickvault.codec import latest_to_hash  # noqa: E402
from tickvault.cold.location import open_location  # noqa: E402
from tickvault.cold.move import move_expired  # noqa: E402
from tickvault.cold.store import fill_aggregates, store_trades  # noqa: E402
from tickvault.config import Settings  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402
from tickvault.keys import RedisKeys  # noqa: E402
from tickvault.tick import Source, Tick  # noqa: E402
from tickvault_api import create_app  # noqa: E402
from tickvault_api.settings import ApiSettings  # noqa: E402
from tickvault_replay.synthetic import synthetic_events  # noqa: E402

SERVER = os.environ.get(
    "TICKVAULT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("TICKVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
DAY_US = 86_400_000_000
NOW_US = 1_723_161_600_000_000  # any plausible instant, for the cached latest trade
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


def _latest_under_cold_load(
    url: str, cold_url: str, redis_url: str, symbol: str, day: date, requests: int
) -> dict[str, Any]:
    """Return ``latest`` p50/p99 of a one-worker ``tickvault-api`` (Gunicorn, gevent) alone
    and while two clients keep asking it for cold ``stats`` and ``at``."""
    prefix = f"tvbench-cold-{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(redis_url)
    tick = Tick(
        symbol=symbol,
        trade_id=1,
        price="1.00000000",
        quantity="1.00000000",
        trade_time=NOW_US,
        event_time=NOW_US,
        is_buyer_maker=False,
        received_at=NOW_US,
        source=Source.WS,
    )
    client.hset(RedisKeys(prefix).latest(symbol), mapping=latest_to_hash(tick))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")} | {
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_COLD_URL": cold_url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": prefix,
        "TICKVAULT_SYMBOLS": symbol,
        "TICKVAULT_API_BIND": f"127.0.0.1:{port}",
        "TICKVAULT_API_WORKERS": "1",
        "TICKVAULT_API_CACHE_TTL_SECONDS": "0",
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "tickvault_api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: _ready(f"http://127.0.0.1:{port}/readyz"), 60, "tickvault-api")
    latest = [f"/api/v1/prices/{symbol}/latest"] * requests
    day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    stop = threading.Event()
    cold_done = [0]

    def cold_load(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            t = day_ms + rng.randrange(86_400_000)
            path = (
                f"/api/v1/prices/{symbol}/stats?start={day_ms}&end={day_ms + 86_400_000}"
                if seed % 2
                else f"/api/v1/prices/{symbol}/at?time={t}"
            )
            conn.request("GET", path)
            conn.getresponse().read()
            cold_done[0] += 1
        conn.close()

    try:
        alone = timed("127.0.0.1", port, latest)
        loaders = [threading.Thread(target=cold_load, args=(i,)) for i in (1, 2)]
        for t in loaders:
            t.start()
        time.sleep(1)
        loaded = timed("127.0.0.1", port, latest)
        stop.set()
        for t in loaders:
            t.join(60)
    finally:
        api.terminate()
        api.wait(30)
        client.delete(RedisKeys(prefix).latest(symbol))
    return {
        "latest_p50_ms_alone": round(pct(alone, 0.5), 2),
        "latest_p99_ms_alone": round(pct(alone, 0.99), 2),
        "latest_p50_ms_cold_load": round(pct(loaded, 0.5), 2),
        "latest_p99_ms_cold_load": round(pct(loaded, 0.99), 2),
        "cold_requests_during_load": cold_done[0],
    }


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as got:
            return bool(got.status == 200)
    except OSError:
        return False


def measure(
    ticks: list[Tick], label: str, samples: int, server: str = SERVER, redis_url: str | None = None
) -> dict[str, Any]:
    """Store *ticks*, move their days cold, and return the figures (keys prefixed *label*);
    the database and the cold directory are removed afterwards."""
    with (
        scratch_database(server, "tv_cold_bench") as url,
        tempfile.TemporaryDirectory(prefix="tv-cold-bench-") as cold_dir,
    ):
        return _measure(url, cold_dir, ticks, label, samples, redis_url)


def _measure(
    url: str, cold_dir: str, ticks: list[Tick], label: str, samples: int, redis_url: str | None
) -> dict[str, Any]:
    store_ticks(url, ticks, batch=5000)
    engine = make_engine(url, application_name="tickvault-bench-cold")
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
        if redis_url is not None:
            figures.update(_latest_under_cold_load(url, cold_url, redis_url, symbol, day, 2000))
    finally:
        engine.dispose()
    return {f"cold_{label}_{k}": v for k, v in figures.items()}


_FORGET_AGGREGATES = text(
    "UPDATE cold_files SET price_sum = NULL, price_sq_sum = NULL, volume = NULL, "
    "quote_volume = NULL, first_price = NULL, last_price = NULL, high = NULL, high_time = NULL, "
    "low = NULL, low_time = NULL"
)


def _many_days_ticks(days: int, per_day: int) -> dict[date, list[tuple[Any, ...]]]:
    """Return *days* days of one synthetic symbol, *per_day* trades a day, as cold rows."""
    first = datetime(2023, 1, 1, tzinfo=UTC)
    start = int(first.timestamp() * 1_000_000)
    end = start + days * DAY_US
    out: dict[date, list[tuple[Any, ...]]] = {}
    for event in synthetic_events(["BTCUSDT"], seed=11, rate=per_day / 86_400, start_us=start):
        t = event.trade
        if t is None:
            continue
        if t.time_us >= end:
            break
        day = datetime.fromtimestamp(t.time_us / 1e6, tz=UTC).date()
        out.setdefault(day, []).append(
            (t.id, Decimal(t.price), Decimal(t.qty), t.time_us, t.buyer_maker)
        )
    return out


def _best_of(client: Any, path: str, runs: int) -> tuple[float, bytes]:
    """Return the fastest of *runs* answers to *path* (seconds) and the answer."""
    times, body = [], b""
    for _ in range(runs):
        dt, got = _timed(lambda: client.get(path))
        assert got.status_code == 200, (path, got.data[:200])
        times.append(dt)
        body = got.data
    return min(times), body


def measure_many_days(
    server: str = SERVER, days: int = 365, per_day: int = 1000, runs: int = 3
) -> dict[str, Any]:
    """Return ``range`` and ``stats`` over *days* cold day files, without the per-file
    aggregates (every file read) and with them, measured in the same run."""
    with (
        scratch_database(server, "tv_cold_days") as url,
        tempfile.TemporaryDirectory(prefix="tv-cold-days-") as cold_dir,
    ):
        return _many_days(url, cold_dir, days, per_day, runs)


def _many_days(url: str, cold_dir: str, days: int, per_day: int, runs: int) -> dict[str, Any]:
    engine = make_engine(url, application_name="tickvault-bench-cold-days")
    cold_url = f"file://{cold_dir}"
    location = open_location(Settings(_env_file=None, cold_url=cold_url))  # type: ignore[call-arg]
    assert location is not None
    by_day = _many_days_ticks(days, per_day)
    for day, rows in sorted(by_day.items()):
        store_trades(engine, location, "BTCUSDT", day, rows)
    first = min(by_day)
    first_ms = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000)
    # a wide window: from noon of the 2nd day on (one-sided: no width limit), so the file it
    # starts in is read
    wide = f"start={first_ms + 36 * 3_600_000}"
    paths = {
        f"{q}_{w}": f"/api/v1/prices/BTCUSDT/{q}" + ("" if w == "all" else f"?{wide}")
        for q in ("range", "stats")
        for w in ("all", "wide")
    }
    settings = ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        cold_url=cold_url,
        symbols=("BTCUSDT",),
        api_cache_ttl_seconds=0,
    )
    app = create_app(settings)
    client = app.test_client()
    try:
        with engine.connect() as conn:
            cold_bytes, files, manifest_bytes = conn.execute(
                text(
                    "SELECT sum(bytes), count(*), pg_total_relation_size('cold_files') "
                    "FROM cold_files"
                )
            ).one()
        with engine.begin() as conn:
            conn.execute(_FORGET_AGGREGATES)  # as listed before migration 0006
        before = {k: _best_of(client, p, runs) for k, p in paths.items()}
        fill_s, filled = _timed(lambda: fill_aggregates(engine, location))
        assert filled == len(by_day), (filled, len(by_day))
        after = {k: _best_of(client, p, runs) for k, p in paths.items()}
    finally:
        app.extensions["tickvault"].stores.close()
        engine.dispose()
    for k in paths:
        assert before[k][1] == after[k][1], f"{k}: the answers differ"
    trades = sum(len(v) for v in by_day.values())
    out: dict[str, Any] = {
        "cold_days": len(by_day),
        "cold_days_trades": trades,
        "cold_days_fill_aggregates_s": round(fill_s, 2),
        "cold_days_bytes_per_trade": round(int(cold_bytes) / trades, 2),
        "cold_days_manifest_bytes_per_file": round(int(manifest_bytes) / int(files)),
    }
    for k in paths:
        out[f"cold_days_{k}_ms_before"] = round(before[k][0] * 1000, 1)
        out[f"cold_days_{k}_ms_after"] = round(after[k][0] * 1000, 1)
        out[f"cold_days_{k}_speedup"] = round(before[k][0] / after[k][0], 1)
    return out


def run_cold(
    server: str,
    redis_url: str,
    synthetic_trades: int,
    samples: int = 200,
    days: int = 365,
    per_day: int = 1000,
) -> dict[str, Any]:
    """Return the cold tier's figures on the real recordings and on a synthetic day (there
    also ``latest`` under cold load), and ``range``/``stats`` over many cold days."""
    real = [r.tick() for trades in all_recorded_trades().values() for r in trades]
    out = measure(real, "real", samples, server)
    synthetic = _synthetic_ticks(synthetic_trades)
    out.update(measure(synthetic, "synthetic", samples, server, redis_url))
    out.update(measure_many_days(server, days, per_day))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trades", type=int, default=500_000, help="synthetic trades in the day")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--days", type=int, default=365, help="cold day files, range/stats figures")
    p.add_argument("--day-trades", type=int, default=1000, help="trades in each of those days")
    p.add_argument("--only-days", action="store_true", help="only the many-days figures")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.only_days:
        figures = measure_many_days(SERVER, args.days, args.day_trades)
    else:
        figures = run_cold(SERVER, REDIS, args.trades, args.samples, args.days, args.day_trades)
    text_out = json.dumps(figures, indent=2)
    print(text_out)
    if args.json:
        args.json.write_text(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
