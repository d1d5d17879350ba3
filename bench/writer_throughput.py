"""Measure the writer's sustained rows/s against plain COPY and naive row-by-row INSERT.

In one run, on this machine, each in a fresh migrated database:

1. **writer**: pre-fill a Redis stream with ``--rows`` ticks (the real BTCUSDT+ETHUSDT
   recordings looped with shifted ids and times), then time an in-process writer draining it
   (read, decode, binary COPY into trades + candle/level upserts, cache, ack).
2. **plain COPY**: the same rows, pre-formatted, ``COPY``'d into ``trades`` (partitions made
   beforehand; only the COPY and its commit are timed).
3. **naive INSERT**: ``--naive-rows`` of them inserted one ``INSERT`` + ``COMMIT`` at a time;
   reported as a rate.
4. **replicas**: ``--replicas N [N ...]`` writer *processes* (default 1) draining a copy of
   the same pre-filled stream as one consumer group, at each ``--replica-batch`` size
   (default ``--batch``); aggregate sustained rows/s from the first commit to the last
   (:mod:`writer_replicas`).
5. **latency**: ``--latency-seconds`` of the recording fed at recorded pace, each trade stamped
   with the current time as its exchange time; exchange-to-commit p50/p99/max.

    python bench/writer_throughput.py [--rows 500000] [--batch 10000] [--json PATH]
        [--replicas 1 2] [--replica-batch 5000 10000] [--only writer|copy|naive|latency|replicas]

The 1-minute load average before and after each timed part is reported with it (this
machine is shared).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.support.recordings import all_recorded_trades  # noqa: E402

from tickvault.codec import to_fields  # noqa: E402
from tickvault.db import migrate, partitions  # noqa: E402
from tickvault.db.engine import libpq_dsn, make_engine  # noqa: E402
from tickvault.keys import WRITER_GROUP, RedisKeys  # noqa: E402
from tickvault.tick import Source, Tick, iso_ms, us_to_datetime  # noqa: E402
from tickvault_writer.batch import Batch  # noqa: E402
from tickvault_writer.service import Writer, tune_gc  # noqa: E402
from tickvault_writer.settings import WriterSettings  # noqa: E402
from tickvault_writer.store import PgStore, WriteResult  # noqa: E402
from writer_replicas import run_replicas  # noqa: E402

SERVER = os.environ.get(
    "TICKVAULT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("TICKVAULT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
DEFAULT_BATCH: int = WriterSettings.model_fields["writer_batch_size"].default


def base_ticks() -> list[Tick]:
    """Return both recordings as ticks, interleaved by trade time."""
    out = []
    for trades in all_recorded_trades().values():
        for t in trades:
            out.append(
                Tick(
                    t.symbol,
                    t.trade_id,
                    t.price,
                    t.quantity,
                    t.trade_time_ms * 1000,
                    t.event_time_ms * 1000,
                    t.is_buyer_maker,
                    t.event_time_ms * 1000 + 900,
                    Source.WS,
                )
            )
    out.sort(key=lambda t: (t.trade_time, t.symbol, t.trade_id))
    return out


def looped(base: list[Tick], rows: int) -> Iterator[Tick]:
    """Yield *rows* ticks: the recordings again and again, ids and times shifted each lap."""
    span_us = base[-1].trade_time - base[0].trade_time + 1_000_000
    id_span = dict.fromkeys({t.symbol for t in base}, 10000000)
    n, lap = 0, 0
    while True:
        for t in base:
            if n == rows:
                return
            shift = lap * span_us
            yield Tick(
                t.symbol,
                t.trade_id + lap * id_span[t.symbol],
                t.price,
                t.quantity,
                t.trade_time + shift,
                t.event_time + shift,
                t.is_buyer_maker,
                t.received_at + shift,
                t.source,
            )
            n += 1
        lap += 1


class Databases:
    """Fresh migrated databases on the bench server, dropped at exit."""

    def __init__(self) -> None:
        self.admin = make_engine(SERVER, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def fresh(self) -> str:
        name = f"tickvault_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.made.append(name)
        url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url, create_database=False)
        return url

    def drop(self) -> None:
        with self.admin.connect() as conn:
            for name in self.made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def make_partitions(url: str, ticks: list[Tick]) -> None:
    """Create every partition the rows need (so no method pays for it while timed)."""
    hours = sorted({t.trade_time - t.trade_time % 3_600_000_000 for t in ticks})
    engine = make_engine(url)
    with engine.begin() as conn:
        instants = [us_to_datetime(h) for h in hours]
        for scheme in partitions.SCHEMES:
            partitions.ensure_partitions(conn, scheme, instants)
    engine.dispose()


def settings_for(url: str, prefix: str, batch: int) -> WriterSettings:
    return WriterSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        redis_url=REDIS,
        redis_prefix=prefix,
        retention_hours=0,
        writer_maintenance_interval_s=0,
        writer_metrics_port=0,
        writer_batch_size=batch,
        writer_summary_interval_s=3600,
    )


def prefill(client: redis.Redis, keys: RedisKeys, ticks: list[Tick]) -> None:
    pipe = client.pipeline(transaction=False)
    for i, tick in enumerate(ticks, 1):
        pipe.xadd(keys.stream, to_fields(tick), maxlen=None)  # type: ignore[arg-type]
        if i % 5000 == 0:
            pipe.execute()
    pipe.execute()


def make_template(client: redis.Redis, ticks: list[Tick]) -> str:
    """Pre-fill a stream (with the writers' group, nothing delivered) that runs copy."""
    keys = RedisKeys(f"tvbench:{uuid.uuid4().hex[:8]}:template")
    client.xgroup_create(keys.stream, WRITER_GROUP, id="0", mkstream=True)
    prefill(client, keys, ticks)
    return keys.stream


def run_writer(
    url: str, ticks: list[Tick], batch: int, client: redis.Redis, template: str
) -> dict[str, float]:
    prefix = f"tvbench:{uuid.uuid4().hex[:8]}"
    keys = RedisKeys(prefix)
    writer = Writer(settings_for(url, prefix, batch), redis=client)
    try:
        client.copy(template, keys.stream)  # the pre-filled stream with its group
        make_partitions(url, ticks[:1])  # the writer makes the rest itself, as in production
        tune_gc()  # as tickvault-writer's main() does
        thread = threading.Thread(target=writer.run, daemon=True)
        started = time.perf_counter()
        thread.start()
        while writer.totals.entries < len(ticks):
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        writer.request_stop()
        thread.join(30)
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
    assert writer.totals.inserted == len(ticks), writer.totals
    batches = writer.totals.batches
    return {"seconds": elapsed, "rows_per_s": len(ticks) / elapsed, "batches": batches}


def trade_row(t: Tick) -> str:
    def ts(us: int) -> str:
        return us_to_datetime(us).isoformat()

    return (
        f"{t.symbol}\t{ts(t.trade_time)}\t{t.trade_id}\t{t.price}\t{t.quantity}\t"
        f"{ts(t.event_time)}\t{'t' if t.is_buyer_maker else 'f'}\t{ts(t.received_at)}\n"
    )


COLUMNS = "(symbol, trade_time, trade_id, price, quantity, event_time, is_buyer_maker, received_at)"


def run_copy(url: str, ticks: list[Tick]) -> dict[str, float]:
    make_partitions(url, ticks)
    data = "".join(trade_row(t) for t in ticks).encode()
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.copy_expert(f"COPY trades {COLUMNS} FROM STDIN", io.BytesIO(data))
        conn.commit()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return {"seconds": elapsed, "rows_per_s": len(ticks) / elapsed}


def run_naive(url: str, ticks: list[Tick]) -> dict[str, float]:
    make_partitions(url, ticks)
    conn = psycopg2.connect(libpq_dsn(url))
    sql = f"INSERT INTO trades {COLUMNS} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    try:
        started = time.perf_counter()
        with conn.cursor() as cur:
            for t in ticks:
                cur.execute(
                    sql,
                    (
                        t.symbol,
                        us_to_datetime(t.trade_time),
                        t.trade_id,
                        t.price,
                        t.quantity,
                        us_to_datetime(t.event_time),
                        t.is_buyer_maker,
                        us_to_datetime(t.received_at),
                    ),
                )
                conn.commit()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return {"seconds": elapsed, "rows_per_s": len(ticks) / elapsed, "rows": len(ticks)}


class TimedStore(PgStore):
    """A store that notes each committed tick's exchange-to-commit latency."""

    latencies: list[float]

    def write(self, batch: Batch) -> WriteResult:
        result = super().write(batch)
        now_us = time.time_ns() // 1000
        self.latencies.extend((now_us - t.trade_time) / 1000 for t in batch.ticks)
        return result


def run_latency(
    url: str, base: list[Tick], seconds: float, client: redis.Redis
) -> dict[str, float]:
    prefix = f"tvbench:{uuid.uuid4().hex[:8]}"
    keys = RedisKeys(prefix)
    store = TimedStore(url)
    store.latencies = []
    writer = Writer(settings_for(url, prefix, DEFAULT_BATCH), redis=client, store=store)
    writer.reader.ensure_group()
    now_us = time.time_ns() // 1000
    make_partitions(
        url, [Tick("X", 0, "1", "1", now_us + h * 3_600_000_000, 0, False, 0) for h in range(2)]
    )  # what maintenance makes ahead in production
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    start_rec, start = base[0].trade_time, time.monotonic()
    sent = 0
    feeder = redis.Redis.from_url(REDIS)
    try:
        for t in base:
            due = (t.trade_time - start_rec) / 1e6
            if due > seconds:
                break
            delay = start + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now_us = time.time_ns() // 1000
            live = Tick(
                t.symbol,
                t.trade_id,
                t.price,
                t.quantity,
                now_us,
                now_us,
                t.is_buyer_maker,
                now_us,
                t.source,
            )
            feeder.xadd(keys.stream, to_fields(live))  # type: ignore[arg-type]
            sent += 1
        deadline = time.monotonic() + 30
        while len(store.latencies) < sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.request_stop()
        thread.join(10)
        feeder.close()
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
    lat = sorted(store.latencies)
    return {
        "trades": sent,
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "max_ms": lat[-1],
    }


def loaded(measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Run *measure*, adding the 1-minute load average before and after it."""
    before = os.getloadavg()[0]
    result = measure()
    return {**result, "load_before": before, "load_after": os.getloadavg()[0]}


def load_text(r: Any) -> str:
    if "load_before" not in r:
        return ""
    return f"   load {r['load_before']:.1f}->{r['load_after']:.1f}"


def report(
    ticks: list[Tick],
    batch: int,
    results: dict[str, dict[str, float]],
    replica_runs: list[dict[str, Any]],
) -> None:
    """Print the figures, each as a ratio to this run's COPY."""
    print(
        f"rows: {len(ticks)} ({ticks[0].symbol} .. ; {iso_ms(ticks[0].trade_time)} .. "
        f"{iso_ms(ticks[-1].trade_time)}), writer batch {batch}"
    )
    print(f"{'method':<14}{'rows/s':>12}{'seconds':>10}{'vs COPY':>10}")
    copy_rate = results.get("copy", {}).get("rows_per_s")
    for name in ("writer", "copy", "naive"):
        if name in results:
            r = results[name]
            ratio = f"{r['rows_per_s'] / copy_rate:.2f}" if copy_rate else "-"
            print(
                f"{name:<14}{r['rows_per_s']:>12,.0f}{r['seconds']:>10.2f}{ratio:>10}{load_text(r)}"
            )
    for run in replica_runs:
        rate = float(run["rows_per_s"])
        run["vs_copy"] = rate / copy_rate if copy_rate else None
        ratio = f"{rate / copy_rate:.2f}" if copy_rate else "-"
        name = f"{run['replicas']}x b{run['batch']}"
        print(
            f"{name:<14}{rate:>12,.0f}{run['seconds']:>10.2f}{ratio:>10}{load_text(run)}"
            f"  writer CPU {run['cpu_us_per_row']:.2f} us/row, rows per replica "
            f"{run['per_replica_rows']}"
        )
    if "latency" in results:
        r = results["latency"]
        print(
            f"exchange-to-commit at recorded pace ({r['trades']:.0f} trades): "
            f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    default_json = ROOT / "bench" / "results" / "writer_throughput.json"
    parser.add_argument("--json", default=str(default_json))
    parser.add_argument(
        "--only", choices=["writer", "copy", "naive", "latency", "replicas"], default=None
    )
    parser.add_argument(
        "--replicas",
        type=int,
        nargs="+",
        default=[1],
        help="writer process counts to time, e.g. 1 2 (default 1)",
    )
    parser.add_argument(
        "--replica-batch",
        type=int,
        nargs="+",
        default=None,
        help="batch sizes for the replica runs (default --batch)",
    )
    args = parser.parse_args()
    replica_batches = args.replica_batch or [args.batch]

    base = base_ticks()
    ticks = list(looped(base, args.rows))
    dbs = Databases()
    client = redis.Redis.from_url(REDIS)
    results: dict[str, dict[str, float]] = {}
    replica_runs: list[dict[str, Any]] = []
    template: str | None = None
    try:
        if args.only in (None, "writer", "replicas"):
            template = make_template(client, ticks)
        if args.only in (None, "writer"):
            stream = template
            assert stream is not None
            results["writer"] = loaded(
                lambda: run_writer(dbs.fresh(), ticks, args.batch, client, stream)
            )
        if args.only in (None, "copy"):
            results["copy"] = loaded(lambda: run_copy(dbs.fresh(), ticks))
        if args.only in (None, "replicas"):
            for b in replica_batches:
                for n in args.replicas:
                    assert template is not None
                    replica_runs.append(
                        run_replicas(settings_for, dbs.fresh(), template, n, b, client, REDIS)
                    )
        if args.only in (None, "naive"):
            results["naive"] = loaded(lambda: run_naive(dbs.fresh(), ticks[: args.naive_rows]))
        if args.only in (None, "latency") and args.latency_seconds > 0:
            results["latency"] = run_latency(dbs.fresh(), base, args.latency_seconds, client)
    finally:
        if template is not None:
            client.delete(template)
        client.close()
        dbs.drop()

    report(ticks, args.batch, results, replica_runs)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {"replicas": replica_runs} if replica_runs else {}
    out.write_text(
        json.dumps({"rows": len(ticks), "batch": args.batch, **results, **extra}, indent=2)
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
