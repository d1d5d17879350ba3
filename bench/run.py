"""``make bench``: the whole benchmark suite on this machine, as one table and one JSON file.

    python bench/run.py [--soak-minutes 10] [--ingest-trades 1000000] [--skip api,...]

Everything runs on a private PostgreSQL (``track_commit_timestamp=on``) and a private Redis
started for the run and deleted afterwards (see ``tests/support/servers.py``), in this order,
nothing heavy overlapping anything measured:

1. ingest: end to end at ``--speed 0``, then the plain COPY and naive baselines (ingest.py);
2. latency at 50x (latency.py);
3. the API against the bare Flask + Redis app (api.py);
3b. latest under 0, 1,000 and 5,000 open live streams, delivery delay, memory per idle
   stream and CPU per price and stream, this checkout against ``--baseline-ref`` in the same
   run, and latest against the bare app (api_streams.py;
   ``--skip ingest,latency50,api,soak,market,cluster`` runs it alone);
4. the soak: the recorded pace for ``--soak-minutes``, which is also the recorded-pace
   latency run, with the collector's and writers' RSS at its start and end;
5. the whole market: one collector on every symbol of a synthetic market (market.py);
6. cluster: end-to-end throughput on one Redis against a Redis Cluster (3 masters,
   3 replicas) with 1 and 3 shards, alternated for ``--cluster-rounds``, and the repair time
   after a Redis Cluster master and a PostgreSQL primary fail over (cluster.py;
   ``python bench/cluster.py`` runs it alone).

Writes ``bench/results/latest.json`` and a dated copy ``bench/results/<UTC stamp>.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # bench's modules, and tests.support

from tests.support.servers import PrivatePostgres, PrivateRedis  # noqa: E402

from common import machine, save  # noqa: E402
from report import add_ratios, table  # noqa: E402

STEPS = ("ingest", "latency50", "api", "streams", "soak", "market", "cluster", "cold")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Run the tickvault benchmark suite.")
    p.add_argument(
        "--soak-minutes",
        type=float,
        default=10.0,
        help="length of the recorded-pace soak (also the 1x latency run)",
    )
    p.add_argument("--ingest-trades", type=int, default=1_000_000)
    p.add_argument("--ingest-writers", type=int, default=2)
    p.add_argument("--writers", type=int, default=2, help="writer replicas in paced runs")
    p.add_argument("--naive-rows", type=int, default=3000)
    p.add_argument("--fast-seconds", type=float, default=30.0, help="length of the 50x run")
    p.add_argument("--api-seconds", type=int, default=10)
    p.add_argument("--api-workers", type=int, default=2)
    p.add_argument("--api-threads", type=int, default=8, help="threads of the bare app")
    p.add_argument("--streams", default="0,1000,5000", help="open streams per latest run")
    p.add_argument("--baseline-ref", default="main", help="git ref of the 'before' API")
    p.add_argument("--market-minutes", type=float, default=10.0, help="whole-market run")
    p.add_argument("--market-symbols", type=int, default=2000)
    p.add_argument("--cluster-rounds", type=int, default=2, help="rounds of a b c (cluster)")
    p.add_argument("--cluster-trades", type=int, default=200_000, help="per cluster run")
    p.add_argument("--cluster-failovers", type=int, default=1, help="runs of each failover")
    p.add_argument("--failover-speed", type=float, default=20.0, help="replay pace, failovers")
    p.add_argument("--cold-trades", type=int, default=500_000, help="synthetic day, cold step")
    p.add_argument("--skip", default="", help=f"comma-separated steps to skip: {STEPS}")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    p.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    return p.parse_args()


def step(name: str, results: dict[str, Any]) -> float:
    print(
        f"--- {name} ({datetime.now(UTC):%H:%M:%S} UTC, load {os.getloadavg()[0]:.1f})", flush=True
    )
    results.setdefault("steps", {})[name] = {"load_avg_1m_at_start": os.getloadavg()[0]}
    return time.monotonic()


def main() -> int:
    args = parse()
    skip = {s for s in args.skip.split(",") if s}
    started = datetime.now(UTC)
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
    }
    results["git_commit"] = results["machine"]["git_commit"]
    run_dir = Path(tempfile.mkdtemp(prefix="tvbench-run-"))
    # Import late: these pull in the services and the writer/API benchmarks.
    from api import run_api
    from api_streams import run_streams
    from cluster import run_cluster
    from cold import run_cold
    from ingest import run_all
    from latency import run_paced
    from market import run_market

    try:
        with PrivatePostgres() as pg, PrivateRedis() as rds:
            if "ingest" not in skip:
                s = step("ingest", results)
                results.update(
                    run_all(
                        pg,
                        rds.url,
                        run_dir,
                        rows=args.ingest_trades,
                        writers=args.ingest_writers,
                        naive_rows=args.naive_rows,
                    )
                )
                results["steps"]["ingest"]["seconds"] = round(time.monotonic() - s)
            if "latency50" not in skip:
                s = step("latency50", results)
                fast = run_paced(
                    pg,
                    rds.url,
                    run_dir,
                    speed=50,
                    seconds=args.fast_seconds,
                    writers=args.writers,
                    tag="x50",
                )
                results.update(latency_keys(fast, "_50x"))
                results["steps"]["latency50"]["seconds"] = round(time.monotonic() - s)
            if "api" not in skip:
                s = step("api", results)
                results.update(
                    run_api(
                        pg,
                        rds.url,
                        workers=args.api_workers,
                        threads=args.api_threads,
                        seconds=args.api_seconds,
                        connections=32,
                        samples=2000,
                    )
                )
                results["steps"]["api"]["seconds"] = round(time.monotonic() - s)
            if "streams" not in skip:
                s = step("streams", results)
                results.update(
                    run_streams(
                        pg,
                        rds.url,
                        workers=args.api_workers,
                        seconds=args.api_seconds,
                        counts=tuple(int(n) for n in args.streams.split(",")),
                        baseline_ref=args.baseline_ref,
                    )
                )
                results["steps"]["streams"]["seconds"] = round(time.monotonic() - s)
            if "soak" not in skip:
                s = step("soak", results)
                slow = run_paced(
                    pg,
                    rds.url,
                    run_dir,
                    speed=1,
                    seconds=args.soak_minutes * 60,
                    writers=args.writers,
                    tag="x1",
                )
                results.update(latency_keys(slow, "_1x"))
                results.update(latency_keys(slow, ""))
                results.update(soak_keys(slow, args.soak_minutes))
                results["steps"]["soak"]["seconds"] = round(time.monotonic() - s)
            if "market" not in skip:
                s = step("market", results)
                results.update(
                    run_market(
                        pg,
                        rds.url,
                        run_dir,
                        symbols=args.market_symbols,
                        minutes=args.market_minutes,
                    )
                )
                results["steps"]["market"]["seconds"] = round(time.monotonic() - s)
            if "cluster" not in skip:
                s = step("cluster", results)
                results.update(
                    run_cluster(
                        pg,
                        rds,
                        run_dir,
                        rounds=args.cluster_rounds,
                        trades=args.cluster_trades,
                        writers=args.ingest_writers,
                        failovers=args.cluster_failovers,
                        failover_speed=args.failover_speed,
                    )
                )
                results["steps"]["cluster"]["seconds"] = round(time.monotonic() - s)
            if "cold" not in skip:
                s = step("cold", results)
                results.update(run_cold(pg.url(), rds.url, args.cold_trades))
                results["steps"]["cold"]["seconds"] = round(time.monotonic() - s)
    finally:
        if args.keep_logs:
            print(f"service logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    results["duration_s"] = round(time.monotonic() - t0)
    add_ratios(results)
    print(table(results))
    print(f"wrote {save(results, args.out, started)} ({results['duration_s']} s)")
    return 0


def latency_keys(fig: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Return the latency keys of one paced run, with *suffix* (``_1x``, ``_50x`` or none)."""
    return {
        f"latency_cache_ms_p50{suffix}": fig["cache_p50"],
        f"latency_cache_ms_p99{suffix}": fig["cache_p99"],
        f"latency_db_ms_p50{suffix}": fig["db_p50"],
        f"latency_db_ms_p99{suffix}": fig["db_p99"],
        f"latency_db_ms_max{suffix}": fig["db_max"],
        f"latency_trades{suffix}": fig["measured_db"],
        f"latency_cache_samples{suffix}": fig["measured_cache"],
        f"latency_clock_drift_ms{suffix}": fig["clock_drift_ms"],
    }


def soak_keys(fig: dict[str, Any], minutes: float) -> dict[str, Any]:
    """Return RSS at the start and end of the soak, per service kind (the largest replica)."""
    out: dict[str, Any] = {"soak_minutes": minutes, "soak_rss_series_mb": fig["rss_mb"]}
    for kind in ("collector", "writer"):
        series = [v for name, v in fig["rss_mb"].items() if kind in name]
        start = max(v[0] for v in series)
        end = max(v[-1] for v in series)
        out[f"{kind}_rss_mb_start"] = start
        out[f"{kind}_rss_mb_end"] = end
        out[f"{kind}_rss_mb"] = [start, end]
    return out


if __name__ == "__main__":
    sys.exit(main())
