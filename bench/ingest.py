"""End-to-end ingest against its baselines, in one run on one private PostgreSQL.

1. **pipeline**: ``tickvault-replay --speed 0 --loop`` over both real recordings →
   ``tickvault-collector`` → Redis Stream → ``tickvault-writer`` replicas → PostgreSQL, until
   the collector has published at least ``rows`` trades; it is then stopped (SIGTERM
   flushes) and the writers drain. The rate is rows stored divided by the time from the first to the
   last commit, read from PostgreSQL's own commit timestamps (``track_commit_timestamp``).
2. **COPY ceiling**: the very rows the pipeline stored, read back, ``COPY``'d into ``trades``
   of a fresh database on the same server (``bench/writer_throughput.py``'s ``run_copy``).
3. **naive**: a sample of them, one ``INSERT`` + ``COMMIT`` each (its ``run_naive``).
4. **bytes per trade**: table + indexes of the ``trades`` partitions over rows, after
   ``VACUUM ANALYZE`` (``bench/foundation_storage.py``'s size query).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import text
from tests.private_servers import PrivatePostgres
from tests.support.polling import wait_until

from common import Stack, appended, cpu_s, forget, replay, tree_cpu_s
from foundation_storage import SIZES
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault.keys import WRITER_GROUP, RedisKeys
from tickvault.redisconn import SyncRedis, connect
from tickvault.tick import Source, Tick
from writer_throughput import run_copy, run_naive

PREFIX = "tvbench-ingest"
_ROWS = text(
    "SELECT symbol, trade_id, price::text, quantity::text,"
    " (extract(epoch FROM trade_time) * 1000000)::bigint,"
    " (extract(epoch FROM event_time) * 1000000)::bigint, is_buyer_maker,"
    " (extract(epoch FROM received_at) * 1000000)::bigint FROM trades ORDER BY trade_time"
)
_COUNT = text("SELECT count(*) FROM trades")
_COMMITS = text(
    "SELECT count(*), extract(epoch FROM min(pg_xact_commit_timestamp(xmin))),"
    " extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM trades"
)


def fresh_database(pg: PrivatePostgres, name: str) -> str:
    """Create and migrate database *name* on *pg*; return its URL."""
    admin = make_engine(pg.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = pg.url(name)
    migrate.upgrade(url, create_database=False)
    return url


def drained(client: SyncRedis, keys: RedisKeys) -> bool:
    """Return whether the writers' group of every shard has read and acknowledged every
    entry (a shard whose stream does not exist was never given one)."""
    for shard in keys.all_shards():
        if not client.exists(shard.stream):
            continue
        names = (WRITER_GROUP, WRITER_GROUP.encode())
        group = next((g for g in client.xinfo_groups(shard.stream) if g["name"] in names), None)
        if group is None or int(group["pending"]) or int(group["lag"] or 0):
            return False
    return True


def run_pipeline(
    pg: PrivatePostgres,
    redis_url: str,
    run_dir: Path,
    *,
    rows: int,
    writers: int,
    database: str = "tvbench_ingest",
    prefix: str = PREFIX,
    shards: int = 1,
    cluster: bool = False,
    servers: Mapping[str, int] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Ingest at least *rows* trades end to end; return the database URL and the figures.

    *shards* and *cluster* are ``TICKVAULT_STREAM_SHARDS`` and ``TICKVAULT_REDIS_CLUSTER``
    (*redis_url* then seeds the cluster client). Between the collector's publishing a fifth
    of *rows* and all of them, the CPU of the collector, the writers and the processes
    *servers* (name → pid, with their children) is counted per trade stored meanwhile (the
    replay, the load generator, is not)."""
    servers = servers or {}
    url = fresh_database(pg, database)
    env = {"TICKVAULT_STREAM_SHARDS": str(shards), "TICKVAULT_REDIS_CLUSTER": str(cluster).lower()}
    stack = Stack(url, redis_url, prefix, run_dir, extra_env=env)
    keys = RedisKeys(prefix, shards, cluster)
    client = connect(redis_url, cluster=cluster, socket_timeout=10)
    engine = make_engine(url)
    streams = [shard.stream for shard in keys.all_shards()]

    def published(n: int) -> bool:
        return sum(appended(client, s) for s in streams) >= n

    def sample() -> tuple[float, dict[str, float], int]:
        cpu = {name: tree_cpu_s(pid) for name, pid in servers.items()}
        cpu |= {s.name: cpu_s(s.pid) for s in stack.services}
        with engine.connect() as conn:
            return time.monotonic(), cpu, int(conn.execute(_COUNT).scalar_one())

    try:
        with replay("--speed", "0", "--loop", "--no-limits") as rp:
            for i in range(writers):
                stack.writer(f"{prefix}-writer{i}")
            stack.collector(f"{prefix}-collector", rp)

            # The collector's stream entries (no faults: one per trade) pass *rows* first.
            wait_until(lambda: published(rows // 5), 900, "a fifth of the trades", 0.05)
            start = sample()
            wait_until(lambda: published(rows), 900, "the collector to publish the trades", 0.05)
            end = sample()
            stack.services[-1].stop(60)
            wait_until(lambda: drained(client, keys), 600, "the writers to drain the stream", 0.2)
    finally:
        stack.stop_all()
        forget(client, prefix)
        client.close()
    with engine.connect() as conn:
        count, first, last = conn.execute(_COMMITS).one()
    engine.dispose()
    seconds = float(last) - float(first)
    window = end[2] - start[2]
    used = {name: (end[1][name] - start[1][name]) / max(1, window) * 1e6 for name in end[1]}
    return url, {
        "rows": int(count),
        "seconds": round(seconds, 2),
        "trades_per_s": round(int(count) / seconds) if seconds > 0 else None,
        "writers": writers,
        "cpu_us_per_trade": round(sum(used.values()), 1),
        "cpu_us_per_trade_by_process": {name: round(us, 1) for name, us in used.items()},
        "window_trades_per_s": round(window / (end[0] - start[0])),
    }


def stored_ticks(url: str) -> list[Tick]:
    """Return every stored trade as a tick, in trade-time order."""
    engine = make_engine(url)
    with engine.connect() as conn:
        out = [
            Tick(s, int(i), p, q, int(t), int(e), bool(m), int(r), Source.WS)
            for s, i, p, q, t, e, m, r in conn.execute(_ROWS)
        ]
    engine.dispose()
    return out


def bytes_per_trade(url: str) -> dict[str, float]:
    """Return table, index and total bytes of the trades partitions per row."""
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE trades"))
        rows = conn.execute(text("SELECT count(*) FROM trades")).scalar_one()
        _, heap, indexes, total = conn.execute(SIZES).one()
    engine.dispose()
    return {
        "heap": round(heap / rows, 1),
        "indexes": round(indexes / rows, 1),
        "total": round(total / rows, 1),
        "rows": rows,
    }


def run_all(
    pg: PrivatePostgres, redis_url: str, run_dir: Path, *, rows: int, writers: int, naive_rows: int
) -> dict[str, Any]:
    """Run the pipeline, the COPY ceiling and the naive baseline; return every figure."""
    url, pipeline = run_pipeline(pg, redis_url, run_dir, rows=rows, writers=writers)
    size = bytes_per_trade(url)
    ticks = stored_ticks(url)
    started = time.perf_counter()
    copy = run_copy(fresh_database(pg, "tvbench_copy"), ticks)
    naive = run_naive(fresh_database(pg, "tvbench_naive"), ticks[:naive_rows])
    return {
        "ingest_trades_per_s": pipeline["trades_per_s"],
        "ingest_rows": pipeline["rows"],
        "ingest_seconds": pipeline["seconds"],
        "ingest_writers": writers,
        "copy_ceiling_rows_per_s": round(copy["rows_per_s"]),
        "naive_rows_per_s": round(naive["rows_per_s"]),
        "naive_sample_rows": naive["rows"],
        "bytes_per_trade": size["total"],
        "bytes_per_trade_heap": size["heap"],
        "bytes_per_trade_indexes": size["indexes"],
        "baselines_seconds": round(time.perf_counter() - started, 1),
    }
