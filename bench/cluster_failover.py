"""Repair time after a failover, Redis Cluster's and PostgreSQL's, on both real recordings
replayed once at a steady pace (``--speed`` times the recorded one), 2 writers.

1. **Redis master** (:func:`redis_failover`): a 3-shard stream on a Redis Cluster (3 masters,
   3 replicas); once a fifth of the trades is stored, the master of BTCUSDT's shard loses
   what it acknowledges for ``unreplicated_s`` (its replica frozen and its replication link
   cut), is SIGKILLed, and the
   replica is promoted (``PrivateRedisCluster.fail_over_losing_writes``, which also counts
   the entries the dead master alone held). The collector notices the loss on its next
   append there and refills it from REST as ``stream_lost`` gaps.
2. **PostgreSQL primary** (:func:`postgres_failover`): services on a libpq multi-host URL
   (primary, standby; ``target_session_attrs=read-write``); once a fifth is stored the
   primary is stopped (``fast``: every commit reaches the standby first) and the standby
   promoted. The writers retry until the promoted server takes their writes.

"Caught up" is the time from the fault until PostgreSQL holds every trade the replay had sent
by the moment the failed server was replaced (Redis: the cluster serves every slot again;
PostgreSQL: the standby is promoted; ``/_replay/stats`` says which trades were sent): the
outage's backlog stored and lost entries refilled. Each run then waits for every recorded
trade, stops the services (each must exit 0) and checks the database exactly
(:func:`chaos_check.require_exact`).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from tests.private_servers import (
    PrivatePostgres,
    PrivateRedisCluster,
    ReplayProcess,
    ReplicatedPostgres,
)
from tests.support.market import missing
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from chaos_check import require_exact
from common import Stack, forget, released, replay
from ingest import fresh_database
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault.keys import RedisKeys
from tickvault.redisconn import connect

SHARDS = 3
TIMEOUT_S = 300.0
_GAPS = text("SELECT reason, count(*), sum(last_id - first_id + 1) FROM trade_gaps GROUP BY 1")


def recorded_ranges() -> dict[str, tuple[int, int]]:
    """Return each symbol's first and last recorded trade id."""
    return {
        s: (min(t.trade_id for t in ts), max(t.trade_id for t in ts))
        for s, ts in all_recorded_trades().items()
    }


def stored(engine: Engine) -> int:
    """Return how many trades *engine*'s database holds (0 while it cannot be reached)."""
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM trades")).scalar() or 0)
    except DBAPIError:  # a server stopping, or not promoted yet
        return 0


def gaps(engine: Engine) -> dict[str, list[int]]:
    """Return ``reason -> [gap records, ids they cover]`` of ``trade_gaps``."""
    with engine.connect() as conn:
        return {str(r): [int(n), int(ids)] for r, n, ids in conn.execute(_GAPS)}


def start(stack: Stack, rp: ReplayProcess, writers: int) -> None:
    """Start *writers* writers and one collector."""
    for i in range(writers):
        stack.writer(f"{stack.prefix}-writer{i}")
    stack.collector(f"{stack.prefix}-collector", rp)


def repaired(stack: Stack, engine: Engine, due: dict[str, tuple[int, int]], since: float) -> float:
    """Wait until *engine* holds every id of *due* and return the seconds from *since*; then
    wait for every recorded trade and stop the services, raising unless each exits 0."""
    wait_until(lambda: missing(engine, due) == 0, TIMEOUT_S, "the repair", 0.05)
    caught_up = time.monotonic() - since
    expected = sum(b - a + 1 for a, b in recorded_ranges().values())
    wait_until(lambda: stored(engine) >= expected, TIMEOUT_S, "every recorded trade", 0.2)
    for svc in reversed(stack.services):
        code = svc.stop(60)
        if code != 0:
            raise RuntimeError(f"{svc.name} exited {code}:\n{svc.tail(30)}")
    return caught_up


def redis_failover(
    pg: PrivatePostgres,
    cluster: PrivateRedisCluster,
    run_dir: Path,
    *,
    speed: float,
    writers: int,
    unreplicated_s: float,
) -> dict[str, Any]:
    """Kill the master of BTCUSDT's shard after its frozen replica missed *unreplicated_s*
    of writes; return the failover's figures (the database checked exactly)."""
    prefix = f"tvbench-failover-redis-{uuid.uuid4().hex[:6]}"
    url = fresh_database(pg, "tvbench_failover_redis")
    env = {"TICKVAULT_REDIS_CLUSTER": "true", "TICKVAULT_STREAM_SHARDS": str(SHARDS)}
    stack = Stack(url, cluster.url, prefix, run_dir, extra_env=env)
    keys = RedisKeys(prefix, SHARDS, cluster=True)
    streams = [shard.stream for shard in keys.all_shards()]
    victim = cluster.master_of(keys.shard_of("BTCUSDT").stream)
    fifth = sum(b - a + 1 for a, b in recorded_ranges().values()) // 5
    engine = make_engine(url)
    try:
        with replay("--speed", f"{speed:g}") as rp:
            start(stack, rp, writers)
            wait_until(lambda: stored(engine) > fifth, TIMEOUT_S, "a fifth stored", 0.1)
            failover = cluster.fail_over_losing_writes(victim, unreplicated_s, streams)
            killed = time.monotonic() - failover.serving_s
            due = released(rp)
            caught_up = repaired(stack, engine, due, killed)
        require_exact(engine, recorded_ranges())
        found = gaps(engine)
    finally:
        stack.stop_all()
        engine.dispose()
        client = connect(cluster.url, cluster=True, socket_timeout=10)
        forget(client, prefix)
        client.close()
    return {
        "cluster_failover_redis_serving_s": round(failover.serving_s, 2),
        "cluster_failover_redis_caught_up_s": round(caught_up, 2),
        "cluster_failover_redis_lost_entries": failover.lost_entries,
        "cluster_failover_redis_stream_lost_gaps": found.get("stream_lost", [0, 0])[0],
        "cluster_failover_redis_stream_lost_ids": found.get("stream_lost", [0, 0])[1],
        "cluster_failover_redis_gaps_by_reason": found,
        "cluster_failover_redis_due_trades": sum(b - a + 1 for a, b in due.values()),
    }


def postgres_failover(
    redis_url: str, run_dir: Path, *, speed: float, writers: int
) -> dict[str, Any]:
    """Stop the PostgreSQL primary mid-run and promote its standby; return the figures (the
    database checked exactly)."""
    prefix = f"tvbench-failover-pg-{uuid.uuid4().hex[:6]}"
    name = "tvbench_failover_pg"
    fifth = sum(b - a + 1 for a, b in recorded_ranges().values()) // 5
    with ReplicatedPostgres() as pair:
        assert pair.standby is not None
        url = pair.url(name)
        migrate.upgrade(url)
        stack = Stack(url, redis_url, prefix, run_dir)
        primary = make_engine(pair.primary.url(name))
        standby = make_engine(pair.standby.url(name))
        try:
            with replay("--speed", f"{speed:g}") as rp:
                start(stack, rp, writers)
                wait_until(lambda: stored(primary) > fifth, TIMEOUT_S, "a fifth stored", 0.1)
                primary.dispose()
                fault = time.monotonic()
                pair.primary.stop("fast")
                stopped = time.monotonic() - fault
                pair.standby.promote()
                promoted = time.monotonic() - fault
                due = released(rp)
                before = stored(standby)  # every commit of the old primary, replayed
                wait_until(lambda: stored(standby) > before, TIMEOUT_S, "a new write", 0.05)
                writes_again = time.monotonic() - fault
                caught_up = repaired(stack, standby, due, fault)
            require_exact(standby, recorded_ranges())
            found = gaps(standby)
        finally:
            stack.stop_all()
            primary.dispose()
            standby.dispose()
            client = connect(redis_url, socket_timeout=10)
            forget(client, prefix)
            client.close()
    return {
        "cluster_failover_pg_stop_s": round(stopped, 2),
        "cluster_failover_pg_promoted_s": round(promoted, 2),
        "cluster_failover_pg_writes_again_s": round(writes_again, 2),
        "cluster_failover_pg_caught_up_s": round(caught_up, 2),
        "cluster_failover_pg_stored_at_promotion": before,
        "cluster_failover_pg_gaps_by_reason": found,
        "cluster_failover_pg_due_trades": sum(b - a + 1 for a, b in due.values()),
    }
