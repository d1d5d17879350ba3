"""The whole market: one collector capturing every symbol of a synthetic market with
``TICKVAULT_SYMBOLS=ALL``, through a writer into PostgreSQL, within Binance's REST limits.

The replay serves ``--symbols`` symbols (default 2,000, Binance's mix of quote assets and a
quarter of them in ``BREAK``) at its realistic rates: Zipf-like, the busiest about 200 trades
a second, most under one a minute. Scattered frames are dropped on the WebSocket
(``--drop``, a fraction of all trades) and, half-way, the connection carrying the busiest
symbol is cut: that is the repair work. Positions are seeded as a previous run would have
left them, so every trade printed after the start is owed.

Reported, for ``--minutes``:

- the collector's CPU (% of one core, from its second minute on) and RSS (highest sample);
- REST weight per minute as the exchange counted it (``GET /_replay/rest``): the peak, the
  mean, and the steady mean and peak from the third minute on, against 6,000;
- trades lost: owed ids PostgreSQL does not hold once the repairs are done (must be 0);
- gaps found and the time from detection to fill (p50, p99, max, from ``trade_gaps``), also
  for the gaps found after the first minute alone (the start's are the downtime's, repaired
  in one burst);
- the baseline, run the same way for ``--baseline-minutes``: the same collector on two
  symbols at the same total trade rate, so the ratio is what the symbol count costs.

    python bench/market.py [--symbols 2000] [--minutes 10] [--baseline-minutes 3] [--out F]

``make bench`` runs it as its ``market`` step; ``--out`` also writes the figures (with the
machine and the load) to a JSON file, as ``bench/results/market.json`` holds them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import text

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # bench's modules, and tests.support

from tests.private_servers import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    replay_process,
)
from tests.support.market import exchange, missing, owed, seed_positions  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402

from common import Stack, cpu_s, forget, machine, pct, rss_mb  # noqa: E402
from ingest import fresh_database  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402
from tickvault.keys import RedisKeys  # noqa: E402

WARM_UP_S = 60.0  # start-up (subscriptions, the first tail check) is not steady state
SAMPLE_S = 10.0
REPAIR_TIMEOUT_S = 300.0
STEADY_FROM_MINUTE = 2  # REST minutes counted as steady: from the third on
_GAPS = text(
    "SELECT extract(epoch FROM detected_at), extract(epoch FROM filled_at - detected_at)"
    " FROM trade_gaps WHERE status = 'filled' AND found_by = 'collector'"
)
_UNFILLED = text("SELECT count(*) FROM trade_gaps WHERE status <> 'filled'")


def run_market(
    pg: PrivatePostgres,
    redis_url: str,
    run_dir: Path,
    *,
    symbols: int = 2000,
    minutes: float = 10.0,
    baseline_minutes: float = 3.0,
    drop: float = 0.0002,
) -> dict[str, Any]:
    """Run the whole market, then the two-symbol baseline; return the figures."""
    market = _run(
        pg,
        redis_url,
        run_dir,
        tag="market",
        replay_args=["--synthetic-market", str(symbols), "--seed", "1"],
        symbols="ALL",
        seconds=minutes * 60,
        drop=drop,
    )
    rate = max(1.0, market["trades_per_s"] / 2)
    base = _run(
        pg,
        redis_url,
        run_dir,
        tag="market_base",
        replay_args=["--synthetic", "BTCUSDT,ETHUSDT", "--rate", f"{rate:.1f}"],
        symbols="BTCUSDT,ETHUSDT",
        seconds=baseline_minutes * 60,
        drop=drop,
    )
    out = {f"market_{k}": v for k, v in market.items()}
    out |= {f"market_baseline_{k}": v for k, v in base.items()}
    out["market_symbols"] = symbols
    out["market_minutes"] = minutes
    out["market_cpu_vs_baseline"] = (
        round(market["collector_cpu_pct"] / base["collector_cpu_pct"], 2)
        if base["collector_cpu_pct"]
        else None
    )
    return out


def _run(
    pg: PrivatePostgres,
    redis_url: str,
    run_dir: Path,
    *,
    tag: str,
    replay_args: list[str],
    symbols: str,
    seconds: float,
    drop: float,
) -> dict[str, Any]:
    url = fresh_database(pg, f"tvbench_{tag}")
    prefix = f"tvbench-{tag}"
    stack = Stack(url, redis_url, prefix, run_dir)
    client = redis.Redis.from_url(redis_url)
    engine = make_engine(url)
    load = [os.getloadavg()[0]]
    try:
        with replay_process(*replay_args, "--log-level", "WARNING") as rp:
            marks = seed_positions(client, prefix, exchange(rp))
            seeded = time.monotonic()
            stack.writer(f"{tag}-writer")
            collector = stack.collector(f"{tag}-collector", rp, TICKVAULT_SYMBOLS=symbols)
            rp.post_faults({"type": "drop", "fraction": drop, "seed": 11})
            stream = RedisKeys(prefix).stream
            wait_until(lambda: client.xlen(stream), 120, "the first trades", 0.5)
            started, steady_from = time.monotonic(), time.time() + WARM_UP_S
            sampled = _sample(rp, collector.pid, started, seconds)
            rp.clear_faults()
            time.sleep(10)  # frames in flight, and the tail grace, when the drops stop
            ranges = owed(marks, exchange(rp))
            owed_for = time.monotonic() - seeded
            lost = _wait_repaired(engine, ranges)
            rest = rp.rest_report()
            collector.stop(60)
            load.append(os.getloadavg()[0])
    finally:
        stack.stop_all()
        forget(client, prefix)
        client.close()
    with engine.connect() as conn:
        gaps = [(float(at), float(took)) for at, took in conn.execute(_GAPS)]
        unfilled = int(conn.execute(_UNFILLED).scalar() or 0)
    engine.dispose()
    repairs = [took for _, took in gaps]
    steady = [took for at, took in gaps if at >= steady_from]
    owed_trades = sum(b - a + 1 for a, b in ranges.values())
    return {
        **sampled,
        **_weights(rest),
        "trades_per_s": round(owed_trades / owed_for, 1),
        "trades_owed": owed_trades,
        "trades_lost": lost,
        "gaps_filled": len(repairs),
        "gaps_unfilled": unfilled,
        "gap_repair_s_p50": round(pct(repairs, 0.5), 2) if repairs else None,
        "gap_repair_s_p99": round(pct(repairs, 0.99), 2) if repairs else None,
        "gap_repair_s_max": round(max(repairs), 2) if repairs else None,
        "gaps_filled_steady": len(steady),  # found after the warm-up (not the restart's)
        "gap_repair_s_p99_steady": round(pct(steady, 0.99), 2) if steady else None,
        "rest_429_418": [rest["rate_limited"]["429"], rest["rate_limited"]["418"]],
        "load_avg_1m": load,
    }


def _sample(rp: Any, pid: int, started: float, seconds: float) -> dict[str, Any]:
    """Sample the collector's RSS every ``SAMPLE_S``, cut the busiest symbol's connection
    half-way, and measure its CPU after the warm-up; return CPU %, RSS and the run's length."""
    busiest = max(exchange(rp).values(), key=lambda v: v["rate"])["symbol"]
    rss: list[float] = []
    cpu0: tuple[float, float] | None = None
    cut = False
    while (elapsed := time.monotonic() - started) < seconds:
        time.sleep(SAMPLE_S)
        rss.append(rss_mb(pid))
        if cpu0 is None and elapsed >= min(WARM_UP_S, seconds / 4):
            cpu0 = (time.monotonic(), cpu_s(pid))
        if not cut and elapsed >= seconds / 2:
            rp.post_faults({"type": "abrupt_close", "stream": f"{busiest.lower()}@trade"})
            cut = True
    assert cpu0 is not None
    wall = time.monotonic() - cpu0[0]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "collector_cpu_pct": round(100 * (cpu_s(pid) - cpu0[1]) / wall, 1),
        "collector_rss_mb": round(max(rss), 1),
        "collector_rss_mb_first_last": [round(rss[0], 1), round(rss[-1], 1)],
    }


def _wait_repaired(engine: Any, ranges: dict[str, tuple[int, int]]) -> int:
    """Wait until PostgreSQL holds every owed id (or the timeout); return how many it lacks."""
    deadline = time.monotonic() + REPAIR_TIMEOUT_S
    while (lost := missing(engine, ranges)) and time.monotonic() < deadline:
        time.sleep(2)
    return lost


def _weights(report: dict[str, Any]) -> dict[str, Any]:
    """Return REST weight per minute: peak and mean, and the same from the third minute on
    (the last minute, cut short, left out)."""
    minutes = [used for ip in report["ips"].values() for _, used in ip["minutes"]]
    steady = minutes[STEADY_FROM_MINUTE:-1] or minutes
    return {
        "rest_weight_peak": report["weight"]["peak"],
        "rest_weight_mean": report["weight"]["mean"],
        "rest_weight_steady_mean": round(sum(steady) / max(1, len(steady)), 1),
        "rest_weight_steady_peak": max(steady, default=0),
        "rest_weight_by_endpoint": {k: v["weight"] for k, v in report["endpoints"].items()},
    }


def main() -> int:
    """Run the whole-market benchmark on private servers; print its figures as JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--symbols", type=int, default=2000)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--baseline-minutes", type=float, default=3.0)
    p.add_argument("--drop", type=float, default=0.0002, help="fraction of frames dropped")
    p.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = p.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="tvbench-market-"))
    with PrivatePostgres() as pg, PrivateRedis() as rds:
        figures = run_market(
            pg,
            rds.url,
            run_dir,
            symbols=args.symbols,
            minutes=args.minutes,
            baseline_minutes=args.baseline_minutes,
            drop=args.drop,
        )
    figures["machine"] = machine()
    body = json.dumps(figures, indent=2, sort_keys=True)
    print(body)
    if args.out is not None:
        args.out.write_text(body + "\n")
    print(f"service logs in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
