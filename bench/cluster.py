"""What a Redis Cluster and sharding cost end to end, and how long a failover takes to repair,
measured in one run on private servers.

    python bench/cluster.py [--rounds 2] [--trades 200000] [--failovers 1] [--failover-speed 20]

1. **Throughput** (``bench/ingest.py``'s pipeline: ``tickvault-replay --speed 0 --loop
   --no-limits`` → collector → Redis → 2 writers → PostgreSQL, until the collector has
   published ``--trades``; rate = rows / (last commit − first commit)) on (a) one plain Redis
   with 1 shard, the baseline; (b) a Redis Cluster of 3 masters and 3 replicas with 1 shard;
   (c) the same cluster with 3 shards. The configurations alternate, a b c a b c for 2
   rounds, so that the machine's other load shows as noise between rounds rather than as a
   difference between configurations; each run records the 1-minute load average at its
   start, and each ratio against (a) is also given per round. Next to the rate, the CPU
   per trade: the CPU seconds of the collector, the writers, the Redis node(s) and
   PostgreSQL (its backends included) between a fifth of ``--trades`` published and all of
   them, over the trades stored meanwhile (the replay, the load generator, not counted); the
   machine's other work disturbs it far less than the rate. Every run is checked exactly
   (values, times, no hole or double between the first recorded id and the last stored,
   candles and price levels recomputed): a run that stores wrong data stops the bench.
2. **Failover repair** (``bench/cluster_failover.py``): a Redis Cluster master SIGKILLed after
   its frozen replica missed ``--unreplicated-s`` of writes; a PostgreSQL primary stopped and
   its streaming standby promoted; both mid-run at ``--failover-speed`` times the recorded
   pace, with the services' default settings, each ``--failovers`` times (the figures are
   the medians, every run is kept).

``make bench`` runs this as its ``cluster`` step. Alone, it writes
``bench/results/cluster/<UTC stamp>.json`` and ``latest.json`` (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # bench's modules, and tests.support

from tests.private_servers import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    PrivateRedisCluster,
)
from tests.support.market import stored  # noqa: E402

from chaos_check import NotExact, require_exact  # noqa: E402
from cluster_failover import postgres_failover, recorded_ranges, redis_failover  # noqa: E402
from common import machine, save  # noqa: E402
from ingest import run_pipeline  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402


@dataclass(frozen=True)
class Config:
    """One deployment of the tick stream."""

    name: str
    label: str
    shards: int
    cluster: bool


CONFIGS = (
    Config("single", "one Redis, 1 shard", 1, False),
    Config("1shard", "Redis Cluster, 1 shard", 1, True),
    Config("3shards", "Redis Cluster, 3 shards", 3, True),
)
BASELINE = CONFIGS[0].name


def run_cluster(
    pg: PrivatePostgres,
    rds: PrivateRedis,
    run_dir: Path,
    *,
    rounds: int = 2,
    trades: int = 200_000,
    writers: int = 2,
    failovers: int = 1,
    failover_speed: float = 20.0,
    unreplicated_s: float = 1.0,
) -> dict[str, Any]:
    """Run the throughput rounds, then each failover *failovers* times; return every figure
    (a failover's figures are the medians of its runs, each run under ``..._runs``)."""
    out: dict[str, Any] = {}
    with PrivateRedisCluster() as cluster:
        runs = []
        for round_ in range(1, rounds + 1):
            for config in CONFIGS:
                nodes = cluster.nodes if config.cluster else [rds]
                runs.append(one_run(pg, nodes, run_dir, config, round_, trades, writers))
        out.update(summarize(runs))
        redis_runs = []
        for i in range(failovers):
            if i:
                cluster.heal()  # the dead master rejoins as a replica
            print(f"  Redis master failover {i + 1}", flush=True)
            redis_runs.append(
                redis_failover(
                    pg,
                    cluster,
                    run_dir,
                    speed=failover_speed,
                    writers=writers,
                    unreplicated_s=unreplicated_s,
                )
            )
    pg_runs = []
    for i in range(failovers):
        print(f"  PostgreSQL failover {i + 1}", flush=True)
        pg_runs.append(postgres_failover(rds.url, run_dir, speed=failover_speed, writers=writers))
    if failovers:
        out.update(medians("redis", redis_runs) | medians("pg", pg_runs))
        out["cluster_failover_speed"] = failover_speed
    return out


def medians(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the median of each number of a failover's *runs*, and the runs themselves."""
    out: dict[str, Any] = {f"cluster_failover_{name}_runs": runs}
    for key, value in runs[0].items():
        if isinstance(value, int | float):
            out[key] = round(statistics.median(r[key] for r in runs), 2)
    return out


def one_run(
    pg: PrivatePostgres,
    nodes: list[PrivateRedis],
    run_dir: Path,
    config: Config,
    round_: int,
    trades: int,
    writers: int,
) -> dict[str, Any]:
    """Ingest *trades* through *config* on Redis *nodes* (the first seeds a cluster), check
    the result exactly; return the run's figures."""
    load = os.getloadavg()[0]
    servers = {"postgres": pg.proc.pid} if pg.proc is not None else {}
    servers |= {f"redis-{n.port}": n.proc.pid for n in nodes if n.proc is not None}
    url, fig = run_pipeline(
        pg,
        nodes[0].url,
        run_dir,
        rows=trades,
        writers=writers,
        database="tvbench_cluster",
        prefix=f"tvbench-{config.name}-r{round_}",
        shards=config.shards,
        cluster=config.cluster,
        servers=servers,
    )
    engine = make_engine(url)
    try:
        require_exact(engine, loop_ranges(engine))
    finally:
        engine.dispose()
    run = {
        "config": config.name,
        "round": round_,
        "trades_per_s": fig["trades_per_s"],
        "rows": fig["rows"],
        "seconds": fig["seconds"],
        "cpu_us_per_trade": fig["cpu_us_per_trade"],
        "cpu_us_per_trade_by_kind": by_kind(fig["cpu_us_per_trade_by_process"]),
        "load_avg_1m": round(load, 2),
    }
    print(
        f"  round {round_} {config.label:<24} {fig['trades_per_s']:>8,} trades/s"
        f" ({fig['rows']:,} in {fig['seconds']} s), {fig['cpu_us_per_trade']} CPU µs/trade"
        f" {run['cpu_us_per_trade_by_kind']}, load {load:.1f}: exact",
        flush=True,
    )
    return run


def by_kind(used: dict[str, float]) -> dict[str, float]:
    """Return CPU per trade summed per kind of process: collector, writers, redis, postgres."""
    out: dict[str, float] = {}
    for name, us in used.items():
        kind = next(k for k in ("collector", "writer", "redis", "postgres") if k in name)
        out[kind] = round(out.get(kind, 0.0) + us, 1)
    return out


def loop_ranges(engine: Any) -> dict[str, tuple[int, int]]:
    """Return, per recorded symbol, the ids a looped run must hold: from the recording's first
    to the highest stored (the collector stops mid-pass, so the end is where it stopped)."""
    have = stored(engine)
    recorded = recorded_ranges()
    if set(have) != set(recorded):
        raise NotExact(f"symbols stored {sorted(have)}, recorded {sorted(recorded)}")
    return {s: (first, have[s][2]) for s, (first, _) in recorded.items()}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return each configuration's median rate and CPU per trade, their ratios to the
    baseline's medians, and the same ratios round by round (against that round's baseline)."""
    out: dict[str, Any] = {"cluster_runs": runs}
    for figure in ("trades_per_s", "cpu_us_per_trade"):
        median = {
            c.name: statistics.median(r[figure] for r in runs if r["config"] == c.name)
            for c in CONFIGS
        }
        base = {r["round"]: r[figure] for r in runs if r["config"] == BASELINE}
        for c in CONFIGS:
            digits = 1 if figure == "cpu_us_per_trade" else None
            out[f"cluster_{c.name}_{figure}"] = round(median[c.name], digits)
            if c.name == BASELINE:
                continue
            ratio = f"cluster_{c.name}_{figure}_vs_single"
            out[ratio] = round(median[c.name] / median[BASELINE], 2)
            out[f"{ratio}_by_round"] = [
                round(r[figure] / base[r["round"]], 2) for r in runs if r["config"] == c.name
            ]
    for c in CONFIGS:
        kinds = [r["cpu_us_per_trade_by_kind"] for r in runs if r["config"] == c.name]
        out[f"cluster_{c.name}_cpu_us_per_trade_by_kind"] = {
            kind: round(statistics.median(k[kind] for k in kinds), 1) for kind in kinds[0]
        }
    loads = [r["load_avg_1m"] for r in runs]
    out["cluster_load_avg_1m"] = [min(loads), max(loads)]
    return out


def table(r: dict[str, Any]) -> str:
    """Return the figures as plain text."""
    lines = [
        f"{'configuration':<26}{'trades/s':>10}{'vs single':>11}  {'by round':<20}"
        f"{'CPU µs/trade':>16}{'vs single':>11}  by round"
    ]
    for c in CONFIGS:
        cells = f"{c.label:<26}"
        for figure, width in (("trades_per_s", 10), ("cpu_us_per_trade", 16)):
            ratio = r.get(f"cluster_{c.name}_{figure}_vs_single", 1.0)
            by_round = r.get(f"cluster_{c.name}_{figure}_vs_single_by_round", [])
            cells += f"{r[f'cluster_{c.name}_{figure}']:>{width},}{ratio:>10}x  {by_round!s:<20}"
        lines.append(cells)
    for c in CONFIGS:
        kinds = r[f"cluster_{c.name}_cpu_us_per_trade_by_kind"]
        lines.append(f"  CPU µs/trade by process, {c.label}: {kinds}")
    lines.append(f"load average (1 min) at the runs' starts: {r['cluster_load_avg_1m']}")
    for f in r.get("cluster_failover_redis_runs", []):
        lines.append(
            f"Redis master killed: cluster serving again {f['cluster_failover_redis_serving_s']} s,"
            f" caught up {f['cluster_failover_redis_caught_up_s']} s after the kill;"
            f" {f['cluster_failover_redis_lost_entries']} entries lost,"
            f" {f['cluster_failover_redis_stream_lost_gaps']} stream_lost gaps"
            f" ({f['cluster_failover_redis_stream_lost_ids']} ids)"
        )
    for f in r.get("cluster_failover_pg_runs", []):
        lines.append(
            f"PostgreSQL primary stopped: standby promoted {f['cluster_failover_pg_promoted_s']} s,"
            f" writers writing {f['cluster_failover_pg_writes_again_s']} s,"
            f" caught up {f['cluster_failover_pg_caught_up_s']} s after the stop began"
        )
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="times each configuration runs")
    p.add_argument("--trades", type=int, default=200_000, help="trades per throughput run")
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--failover-speed", type=float, default=20.0, help="replay pace, x recorded")
    p.add_argument("--unreplicated-s", type=float, default=1.0, help="writes the replica misses")
    p.add_argument("--failovers", type=int, default=1, help="runs of each failover (0: none)")
    p.add_argument("--out", type=Path, default=BENCH / "results" / "cluster")
    p.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    return p.parse_args()


def main() -> int:
    args = parse()
    started = datetime.now(UTC)
    t0 = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="tvbench-cluster-"))
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join(["python", "bench/cluster.py", *sys.argv[1:]]),
        "load_avg_at_start": list(os.getloadavg()),
    }
    try:
        with PrivatePostgres() as pg, PrivateRedis() as rds:
            results.update(
                run_cluster(
                    pg,
                    rds,
                    run_dir,
                    rounds=args.rounds,
                    trades=args.trades,
                    writers=args.writers,
                    failovers=args.failovers,
                    failover_speed=args.failover_speed,
                    unreplicated_s=args.unreplicated_s,
                )
            )
    finally:
        if args.keep_logs:
            print(f"service logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    results["load_avg_at_end"] = list(os.getloadavg())
    results["duration_s"] = round(time.monotonic() - t0)
    print(table(results))
    print(f"wrote {save(results, args.out, started)} ({results['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
