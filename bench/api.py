"""The API figures for ``make bench``, with ``bench/api_latency.py``'s own pieces.

The synthetic full day of ``bench/api_dataset.py`` (BTCUSDT 3M and ETHUSDT 1.5M trades, with
their candles and price levels) is loaded into a database of the private server. Then, as
``api_latency.py`` does: ``tickvault-api`` and the bare Flask + Redis app
(``bench/api_bare.py``) under the same Gunicorn settings, both driven by ``wrk`` at the same
concurrency, one after the other; ``at`` and ``range`` latency from sequential keep-alive
requests at random instants of the day; ``stats`` over the whole day, the result cache off.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from typing import Any

import redis
from tests.private_servers import PrivatePostgres

from api_dataset import load
from api_latency import DAY_MS, pct, start_pair, timed, wrk
from ingest import fresh_database
from tickvault.codec import latest_to_hash
from tickvault.db.engine import make_engine
from tickvault.keys import RedisKeys
from tickvault.tick import Tick

PREFIX = "tvbench-api"


def run_api(
    pg: PrivatePostgres,
    redis_url: str,
    *,
    workers: int,
    threads: int,
    seconds: int,
    connections: int,
    samples: int,
) -> dict[str, Any]:
    """Load the day, serve it, measure; return the figures."""
    url = fresh_database(pg, "tvbench_api")
    engine = make_engine(url)
    t0 = time.perf_counter()
    load(engine)
    engine.dispose()
    load_s = time.perf_counter() - t0
    client = redis.Redis.from_url(redis_url)
    tick = Tick(
        "BTCUSDT", 1, "61000.01000000", "0.00100000", DAY_MS * 1000, DAY_MS * 1000, False, 0
    )
    client.hset(RedisKeys(PREFIX).latest("BTCUSDT"), mapping=latest_to_hash(tick))
    metrics_dir = tempfile.mkdtemp(prefix="tvbench-metrics-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")},
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_API_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": PREFIX,
        "TICKVAULT_API_WORKERS": str(workers),
        "TICKVAULT_API_THREADS": str(threads),
        "TICKVAULT_API_CACHE_TTL_SECONDS": "0",
        "TICKVAULT_RETENTION_HOURS": "0",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    api, bare, api_port, _ = pair = start_pair(env, workers, threads)
    api_url, bare_url = pair.api_url, pair.bare_url
    try:
        wrk(api_url, 2, connections)
        wrk(bare_url, 2, connections)
        bare_rps, bare_p99 = wrk(bare_url, seconds, connections)
        api_rps, api_p99 = wrk(api_url, seconds, connections)
        rng = random.Random(1)
        symbols = ("BTCUSDT", "ETHUSDT")
        at = [
            f"/api/v1/prices/{rng.choice(symbols)}/at?time={DAY_MS + rng.randrange(86_400_000)}"
            for _ in range(samples)
        ]
        minutes = [
            f"/api/v1/prices/{rng.choice(symbols)}/range?minute="
            + time.strftime(
                "%Y-%m-%dT%H:%M", time.gmtime(DAY_MS // 1000 + 60 * rng.randrange(1440))
            )
            for _ in range(samples)
        ]
        at_ms = timed("127.0.0.1", api_port, at)
        range_ms = timed("127.0.0.1", api_port, minutes)
        day = f"start={DAY_MS}&end={DAY_MS + 86_400_000}"
        stats = {
            s: timed("127.0.0.1", api_port, [f"/api/v1/prices/{s}/stats?{day}"] * 7)
            for s in symbols
        }
    finally:
        for proc in (api, bare):
            proc.terminate()
            proc.wait(timeout=30)
        client.delete(RedisKeys(PREFIX).latest("BTCUSDT"))
        client.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return {
        "api_latest_rps": round(api_rps),
        "api_latest_p99_ms": round(api_p99, 2),
        "api_bare_rps": round(bare_rps),
        "api_bare_p99_ms": round(bare_p99, 2),
        "api_at_p50_ms": round(pct(at_ms, 0.5), 2),
        "api_at_p99_ms": round(pct(at_ms, 0.99), 2),
        "api_range_p50_ms": round(pct(range_ms, 0.5), 2),
        "api_range_p99_ms": round(pct(range_ms, 0.99), 2),
        "api_stats_day_ms": round(max(statistics.median(v) for v in stats.values()), 1),
        "api_stats_day_ms_by_symbol": {s: round(statistics.median(v), 1) for s, v in stats.items()},
        "api_dataset_load_s": round(load_s, 1),
        "api_settings": {
            "workers": workers,
            "threads": threads,
            "connections": connections,
            "wrk_seconds": seconds,
            "samples": samples,
        },
    }
