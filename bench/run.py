"""``make bench``: the whole benchmark suite on this machine, as one table and one JSON file.

    python bench/run.py [--soak-minutes 10] [--ingest-trades 1000000] [--skip api,...]

Everything runs on a private PostgreSQL (``track_commit_timestamp=on``) and a private Redis
started for the run and deleted afterwards (see ``tests/private_servers``), in this order,
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
7. import: ``tickvault import`` of the replay's archive against plain COPY of the same rows,
   the bare unzip + parse rate beside it, and the import's peak RSS (archive_import.py;
   ``python bench/archive_import.py`` runs it alone).
8. cold: bytes per trade in the cold tier, moving rate, ``at``/history/``stats`` over a cold
   day and ``latest`` under cold load, then ``range``/``stats`` over 365 small cold days
   without and with the per-file aggregates (cold.py; ``python bench/cold.py`` runs it alone,
   ``--skip ingest,latency50,api,streams,soak,market,cluster,import`` runs it alone here).

Each step's figures, status and seconds are written to ``bench/results/<UTC stamp>.json`` as
soon as it finishes. A step that fails is recorded with its error and the next one runs; at
the end the table shows what finished, each step's status and time, and the run exits 1
naming the failed steps, leaving ``latest.json`` as it was. A run with every step done also
writes ``bench/results/latest.json``. Before it starts, the run prints how long it should
take, by the step times ``latest.json`` recorded (the soak and the whole market scaled to
their minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # bench's modules, and tests.support

from tests.private_servers import PrivatePostgres, PrivateRedis  # noqa: E402

from common import machine, save  # noqa: E402
from report import add_ratios, table  # noqa: E402


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
    p.add_argument("--import-days", type=int, default=1, help="archive days (import step)")
    p.add_argument("--import-rate", type=float, default=5.0, help="archived trades/s (import)")
    p.add_argument("--cold-trades", type=int, default=500_000, help="synthetic day, cold step")
    p.add_argument("--skip", default="", help=f"comma-separated steps to skip: {STEPS}")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    p.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    return p.parse_args()


@dataclass(frozen=True)
class Bench:
    """What every step runs with: the arguments, the private servers, the run directory."""

    args: argparse.Namespace
    pg: PrivatePostgres
    rds: PrivateRedis
    run_dir: Path


Step = Callable[[Bench], dict[str, Any]]


def run_ingest(b: Bench) -> dict[str, Any]:
    from ingest import run_all

    return run_all(
        b.pg,
        b.rds.url,
        b.run_dir,
        rows=b.args.ingest_trades,
        writers=b.args.ingest_writers,
        naive_rows=b.args.naive_rows,
    )


def paced(b: Bench, speed: int, seconds: float, tag: str) -> dict[str, Any]:
    """Return the figures of one paced run of the recordings at *speed*."""
    from latency import run_paced

    return run_paced(
        b.pg, b.rds.url, b.run_dir, speed=speed, seconds=seconds, writers=b.args.writers, tag=tag
    )


def run_latency50(b: Bench) -> dict[str, Any]:
    return latency_keys(paced(b, 50, b.args.fast_seconds, "x50"), "_50x")


def run_api_step(b: Bench) -> dict[str, Any]:
    from api import run_api

    return run_api(
        b.pg,
        b.rds.url,
        workers=b.args.api_workers,
        threads=b.args.api_threads,
        seconds=b.args.api_seconds,
        connections=32,
        samples=2000,
    )


def run_streams_step(b: Bench) -> dict[str, Any]:
    from api_streams import run_streams

    return run_streams(
        b.pg,
        b.rds.url,
        workers=b.args.api_workers,
        seconds=b.args.api_seconds,
        counts=tuple(int(n) for n in b.args.streams.split(",")),
        baseline_ref=b.args.baseline_ref,
    )


def run_soak(b: Bench) -> dict[str, Any]:
    slow = paced(b, 1, b.args.soak_minutes * 60, "x1")
    return {
        **latency_keys(slow, "_1x"),
        **latency_keys(slow, ""),
        **soak_keys(slow, b.args.soak_minutes),
    }


def run_market_step(b: Bench) -> dict[str, Any]:
    from market import run_market

    return run_market(
        b.pg, b.rds.url, b.run_dir, symbols=b.args.market_symbols, minutes=b.args.market_minutes
    )


def run_cluster_step(b: Bench) -> dict[str, Any]:
    from cluster import run_cluster

    return run_cluster(
        b.pg,
        b.rds,
        b.run_dir,
        rounds=b.args.cluster_rounds,
        trades=b.args.cluster_trades,
        writers=b.args.ingest_writers,
        failovers=b.args.cluster_failovers,
        failover_speed=b.args.failover_speed,
    )


def run_import_step(b: Bench) -> dict[str, Any]:
    from archive_import import run_import

    return run_import(b.pg, days=b.args.import_days, rate=b.args.import_rate)


def run_cold_step(b: Bench) -> dict[str, Any]:
    from cold import run_cold

    return run_cold(b.pg.url(), b.rds.url, b.args.cold_trades)


STEP_RUNS: dict[str, Step] = {
    "ingest": run_ingest,
    "latency50": run_latency50,
    "api": run_api_step,
    "streams": run_streams_step,
    "soak": run_soak,
    "market": run_market_step,
    "cluster": run_cluster_step,
    "import": run_import_step,
    "cold": run_cold_step,
}
STEPS = tuple(STEP_RUNS)
# The steps whose length follows an argument (minutes): their time scales with it.
STEP_MINUTES = {"soak": "soak_minutes", "market": "market_minutes"}


def estimate_s(previous: dict[str, Any], args: argparse.Namespace, steps: list[str]) -> int | None:
    """Return the seconds *steps* should take, from the step times of the *previous* run
    (a soak or market run of other length scaled by the minutes it differs); None when the
    previous run did not time one of them."""
    timed = previous.get("steps", {})
    total = 0.0
    for name in steps:
        seconds = timed.get(name, {}).get("seconds")
        if seconds is None:
            return None
        if name in STEP_MINUTES:
            before = previous.get(STEP_MINUTES[name], getattr(args, STEP_MINUTES[name]))
            seconds += (getattr(args, STEP_MINUTES[name]) - before) * 60
        total += seconds
    return round(total)


def run_steps(
    steps: list[str], bench: Bench, results: dict[str, Any], keep: Callable[[], Path]
) -> list[str]:
    """Run *steps* in order, each timed; a failed step is recorded (its error, its time) and
    the next one runs. After each step, *keep* writes what finished so far. Return the names
    of the steps that failed (an interrupt stops the run there)."""
    failed = []
    for name in steps:
        load = os.getloadavg()[0]
        print(f"--- {name} ({datetime.now(UTC):%H:%M:%S} UTC, load {load:.1f})", flush=True)
        record: dict[str, Any] = {"load_avg_1m_at_start": load}
        results["steps"][name] = record
        began = time.monotonic()
        try:
            results.update(STEP_RUNS[name](bench))
            record["status"] = "done"
        except Exception as exc:  # any failure of a step: keep the others' figures
            record["status"] = "failed"
            record["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            failed.append(name)
            traceback.print_exc()
        except KeyboardInterrupt:
            record["status"] = "interrupted"
            failed.append(name)
            break
        finally:
            record["seconds"] = round(time.monotonic() - began)
            kept = keep()
            print(f"--- {name} {record['status']} in {record['seconds']} s; kept in {kept}")
    return failed


def main() -> int:
    args = parse()
    skip = {s for s in args.skip.split(",") if s}
    steps = [name for name in STEPS if name not in skip]
    started = datetime.now(UTC)
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "soak_minutes": args.soak_minutes,
        "market_minutes": args.market_minutes,
        "steps": {},
    }
    results["git_commit"] = results["machine"]["git_commit"]
    latest = args.out / "latest.json"
    if latest.exists() and (expected := estimate_s(json.loads(latest.read_text()), args, steps)):
        print(f"--- about {expected / 60:.0f} min, by the step times of {latest}", flush=True)
    run_dir = Path(tempfile.mkdtemp(prefix="tvbench-run-"))

    def keep() -> Path:
        results["duration_s"] = round(time.monotonic() - t0)
        return save(results, args.out, started, latest=False)

    try:
        with PrivatePostgres() as pg, PrivateRedis() as rds:
            failed = run_steps(steps, Bench(args, pg, rds, run_dir), results, keep)
    finally:
        if args.keep_logs:
            print(f"service logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    results["duration_s"] = round(time.monotonic() - t0)
    results["failed_steps"] = failed
    add_ratios(results)
    print(table(results))
    print(steps_table(results))
    if failed:
        print(f"wrote {keep()}: figures of the steps that finished; latest.json left as it was")
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"wrote {save(results, args.out, started)} ({results['duration_s']} s)")
    return 0


def steps_table(results: dict[str, Any]) -> str:
    """Return each step's status and time, as a plain-text table."""
    lines = [f"{'step':<12}{'status':<13}{'seconds':>8}  error"]
    for name, record in results["steps"].items():
        error = record.get("error", "").splitlines()[0][:80] if record.get("error") else ""
        lines.append(f"{name:<12}{record['status']:<13}{record['seconds']:>8}  {error}")
    return "\n".join(lines)


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
