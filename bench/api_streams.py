"""``make bench``: ``latest`` under open live streams, delivery delay, memory per idle stream.

    python bench/run.py --skip ingest,latency50,api,soak,market   # just this step
    python bench/api_streams.py [--streams 0,1000,5000] [--baseline-ref main]

On the private servers of ``bench/run.py``: two ``tickvault-api`` (2 gevent workers each) on
an empty database, BTCUSDT and ETHUSDT in the latest-price cache: the code of
``--baseline-ref`` (checked out to a temporary directory) and this checkout, both up for the
whole step. For each count of Server-Sent-Events clients, first against the baseline, then
against this checkout (so other load on the machine hits both alike):

1. the clients connect while nothing is published: ``--client-processes`` processes, each
   reading its share with one selector thread (``tests/support/sse.py``), half of them over
   HTTP/1.1 (chunked, as browsers) and half over HTTP/1.0. The API's RSS (master and
   workers) is read before and after: the growth divided by the clients is the memory per
   idle stream;
2. a publisher announces new latest prices (``--rate`` per second, alternating symbols,
   each stamped with the wall time just before it is published to the Redis channel) while
   ``wrk`` asks ``/prices/BTCUSDT/latest`` for ``--seconds``: requests/s and p99 of
   ``latest``, and the delay from each price's publication to its arrival at each client
   (the wall time right after the ``recv`` that completed its event, same machine, same
   clock; the event carries the time in whole milliseconds, so a delay reads up to 1 ms
   long). Each client process reports the CPU it used meanwhile: a process near a whole
   core would be measuring itself, not the API. Before that, prices flow for 5 s with no
   other request: the workers' CPU time (``/proc``) over prices × clients is the API's cost
   of one price to one stream.

Then the same at ``--burst-rate`` prices a second (a busy market) with 1,000 clients: how
much of it reaches the clients (``delivered_share``: coalescing sends only the newest price
of a symbol per flush) and how late. Then, as ``bench/api.py`` does, ``latest`` against the
bare Flask + Redis endpoint: the code before this change (``--baseline-ref``) and after it,
both against the bare app under ``gthread`` and ``gevent``, in the same run. The open-file
limit of this process (and so of the API and clients it starts) is raised to the hard
limit: every stream is a socket at each end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # the bench modules, and tests.support

from tests.private_servers import PrivatePostgres, PrivateRedis  # noqa: E402
from tests.support.sse import SseClients, raise_fd_limit  # noqa: E402

from api_latency import serve, wrk  # noqa: E402
from common import ROOT, pct, rss_mb  # noqa: E402
from ingest import fresh_database  # noqa: E402
from tickvault.codec import latest_message, latest_to_hash  # noqa: E402
from tickvault.keys import RedisKeys  # noqa: E402
from tickvault.tick import Tick  # noqa: E402

PREFIX = "tvbench-streams"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
LATEST = "/api/v1/prices/BTCUSDT/latest"
QUIET_SECONDS = 5.0  # prices published with no other request, to read the API's CPU


def tick(symbol: str, trade_id: int, now_us: int) -> Tick:
    return Tick(symbol, trade_id, "61000.01000000", "0.00100000", now_us, now_us, False, now_us)


class Publisher(threading.Thread):
    """Announce a new latest price *rate* times a second while running (as the writer does)."""

    def __init__(self, redis_url: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.channel = RedisKeys(PREFIX).latest_channel
        self.interval = 1.0 / rate
        self.running = threading.Event()
        self.stopping = threading.Event()
        self.trade_id = 1_000_000
        self.stamps_ms: list[int] = []

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            if not self.running.wait(0.1):
                next_at = time.monotonic()
                continue
            self.trade_id += 1
            symbol = SYMBOLS[self.trade_id % 2]
            now_us = time.time_ns() // 1000
            self.client.publish(self.channel, latest_message(tick(symbol, self.trade_id, now_us)))
            self.stamps_ms.append(now_us // 1000)
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def published_since(self, since_ms: float) -> int:
        return sum(1 for t in self.stamps_ms if t >= since_ms)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.client.close()


def api_rss_mb(master: int) -> float:
    """Return the RSS of Gunicorn's master and its workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return rss_mb(master) + sum(rss_mb(int(pid)) for pid in children)


def api_cpu_seconds(master: int) -> float:
    """Return the CPU time (user + system) Gunicorn's workers have used so far."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    ticks = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def client_process(conn: Any, port: int, count: int, http11: bool) -> None:
    """Hold *count* clients of the stream; answer the parent's ``report`` and ``close``."""
    clients = SseClients("127.0.0.1", port, "/api/v1/stream", count, http11=http11)
    try:
        clients.start(batch=250, timeout=180)
        conn.send([c.status for c in clients.clients])
        cpu = 0.0
        while True:
            command, since = conn.recv()
            if command == "mark":
                cpu = resource.getrusage(resource.RUSAGE_SELF)
                cpu = cpu.ru_utime + cpu.ru_stime
                conn.send(None)
                continue
            if command != "report":
                return
            usage = resource.getrusage(resource.RUSAGE_SELF)
            delays = [
                arrival * 1000 - trade_ms
                for c in clients.clients
                for arrival, trade_ms in zip(c.arrivals, c.trade_ms, strict=True)
                if trade_ms >= since  # published during the run: not a first event
            ]
            receiving = sum(
                1 for c in clients.clients if any(t * 1000 >= since for t in c.arrivals)
            )
            dropped = sum(1 for c in clients.clients if c.errors or c.closed)
            conn.send((delays, receiving, dropped, usage.ru_utime + usage.ru_stime - cpu))
    finally:
        clients.close()


class ClientFleet:
    """*count* stream clients spread over *processes* processes (half of them HTTP/1.1)."""

    def __init__(self, port: int, count: int, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.parts: list[tuple[Any, Any]] = []
        shares = [count // processes + (i < count % processes) for i in range(processes)]
        for i, share in enumerate(s for s in shares if s):
            ours, theirs = context.Pipe()
            proc = context.Process(
                target=client_process, args=(theirs, port, share, i % 2 == 0), daemon=True
            )
            proc.start()
            self.parts.append((proc, ours))

    def connect(self, timeout: float) -> list[int]:
        """Wait for every client's status line; return the statuses."""
        statuses: list[int] = []
        for _, conn in self.parts:
            if not conn.poll(timeout):
                raise TimeoutError("the stream clients did not connect in time")
            statuses += conn.recv()
        return statuses

    def mark(self) -> None:
        for _, conn in self.parts:
            conn.send(("mark", 0))
        for _, conn in self.parts:
            conn.recv()

    def report(self, since_ms: float) -> tuple[list[float], int, int, list[float]]:
        delays: list[float] = []
        receiving = dropped = 0
        cpu: list[float] = []
        for _, conn in self.parts:
            conn.send(("report", since_ms))
        for _, conn in self.parts:
            d, r, x, c = conn.recv()
            delays += d
            receiving, dropped = receiving + r, dropped + x
            cpu.append(c)
        return delays, receiving, dropped, cpu

    def close(self) -> None:
        for _, conn in self.parts:
            with suppress(OSError):
                conn.send(("close", 0))
        for proc, _ in self.parts:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def measure(
    port: int,
    master: int,
    publisher: Publisher,
    count: int,
    seconds: int,
    connections: int,
    processes: int,
) -> dict[str, Any]:
    """Connect *count* idle clients, then time ``latest`` while prices flow to them."""
    publisher.running.clear()
    time.sleep(1.0)
    before = api_rss_mb(master)
    fleet = ClientFleet(port, count, processes)
    try:
        statuses = fleet.connect(timeout=240) if count else []
        if count:
            time.sleep(3.0)  # let the workers settle (the first events written, buffers freed)
        after = api_rss_mb(master)
        refused = sum(1 for s in statuses if s != 200)
        cpu_per_write = None
        if count:  # prices alone for a while: the API's CPU per price and stream
            cpu0, since = api_cpu_seconds(master), time.time() * 1000
            publisher.running.set()
            time.sleep(QUIET_SECONDS)
            publisher.running.clear()
            time.sleep(0.5)
            quiet = publisher.published_since(since)
            spent = api_cpu_seconds(master) - cpu0
            cpu_per_write = round(spent * 1e6 / (quiet * count), 1) if quiet else None
        fleet.mark()
        load = os.getloadavg()[0]
        started = time.time()
        publisher.running.set()
        rps, p99 = wrk(f"http://127.0.0.1:{port}{LATEST}", seconds, connections)
        publisher.running.clear()
        time.sleep(1.0)  # the last events arrive
        busy = time.time() - started
        delays, receiving, dropped, cpu = fleet.report(started * 1000)
    finally:
        fleet.close()
    time.sleep(2.0)  # the server notices the closed streams
    return {
        "streams": count,
        "load_avg_1m": round(load, 2),
        "latest_rps": round(rps),
        "latest_p99_ms": round(p99, 2),
        "delivery_p50_ms": round(pct(delays, 0.5), 1) if delays else None,
        "delivery_p99_ms": round(pct(delays, 0.99), 1) if delays else None,
        "delivery_max_ms": round(max(delays), 1) if delays else None,
        "deliveries": len(delays),
        "published": (published := publisher.published_since(started * 1000)),
        "delivered_share": round(len(delays) / (published * count), 4) if count else None,
        "clients_receiving": receiving,
        "clients_dropped_or_refused": dropped + refused,
        "api_cpu_us_per_price_and_stream": cpu_per_write,
        "client_cpu_share_max": round(max(cpu) / busy, 2) if cpu else None,
        "api_rss_mb_idle": round(before, 1),
        "api_rss_mb_with_streams": round(after, 1),
        "kb_per_idle_stream": round((after - before) * 1024 / count, 1) if count else None,
    }


@contextmanager
def baseline_tree(ref: str) -> Any:
    """Yield a PYTHONPATH running the code of git *ref* (a temporary checkout)."""
    where = Path(tempfile.mkdtemp(prefix="tvbench-baseline-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
        packages = ["shared", *(f"services/{s}" for s in ("api", "collector", "writer", "replay"))]
        yield os.pathsep.join(str(where / p) for p in packages)
    finally:
        shutil.rmtree(where, ignore_errors=True)


def start_api(env: dict[str, str], pythonpath: str | None = None) -> tuple[Any, int]:
    child = {**env, "TICKVAULT_API_BIND": "127.0.0.1:{port}"}
    if pythonpath:
        child["PYTHONPATH"] = pythonpath
    return serve([sys.executable, "-m", "tickvault_api"], child, "http://127.0.0.1:{port}/readyz")


def start_bare(env: dict[str, str], worker_class: str, workers: int) -> tuple[Any, int]:
    cmd = [
        sys.executable, "-m", "gunicorn", "--chdir", str(BENCH), "-k", worker_class,
        "-w", str(workers), *(["--threads", "8"] if worker_class == "gthread" else []),
        "-b", "127.0.0.1:{port}", "api_bare:create()",
    ]  # fmt: skip
    return serve(cmd, env, "http://127.0.0.1:{port}/latest/BTCUSDT")


def compare_latest(
    env: dict[str, str], workers: int, seconds: int, connections: int, ref: str
) -> dict[str, Any]:
    """Return latest req/s before and after this change and of the bare app, in one run."""
    out: dict[str, Any] = {}
    with baseline_tree(ref) as before_path:
        runs: list[tuple[str, Any, str]] = []
        for name, starter in (
            ("bare_gthread", lambda: start_bare(env, "gthread", workers)),
            ("bare_gevent", lambda: start_bare(env, "gevent", workers)),
            ("latest_before", lambda: start_api(env, before_path)),
            ("latest_after", lambda: start_api(env)),
        ):
            proc, port = starter()
            path = "/latest/BTCUSDT" if name.startswith("bare") else LATEST
            runs.append((name, proc, f"http://127.0.0.1:{port}{path}"))
        try:
            for _, _, url in runs:
                wrk(url, 2, connections)  # warm up
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in runs}
            for _ in range(2):  # alternate: other load on the machine hits each alike
                for name, _, url in runs:
                    figures[name].append(wrk(url, seconds, connections))
        finally:
            for _, proc, _ in runs:
                proc.terminate()
                proc.wait(timeout=30)
    for name, results in figures.items():
        out[f"{name}_rps"] = round(max(r for r, _ in results))
        out[f"{name}_p99_ms"] = round(min(p for _, p in results), 2)
    bare = out["bare_gthread_rps"]
    out["before_vs_bare"] = round(out["latest_before_rps"] / bare, 2)
    out["after_vs_bare"] = round(out["latest_after_rps"] / bare, 2)
    out["after_vs_bare_gevent"] = round(out["latest_after_rps"] / out["bare_gevent_rps"], 2)
    out["baseline_ref"] = ref
    return out


def summarize(
    results: dict[str, Any], rows: dict[str, list[dict[str, Any]]], counts: tuple[int, ...]
) -> None:
    """Add the flat keys of the rows before and after to *results*."""
    results["streams_rows"] = rows["after"]
    results["streams_rows_before"] = rows["before"]
    for mode, prefix in (("after", "streams"), ("before", "streams_before")):
        by_count = {r["streams"]: r for r in rows[mode]}
        base = by_count[counts[0]]
        for r in rows[mode]:
            n = r["streams"]
            results[f"{prefix}_latest_rps_{n}"] = r["latest_rps"]
            results[f"{prefix}_latest_p99_ms_{n}"] = r["latest_p99_ms"]
            if n:
                results[f"{prefix}_delivery_p99_ms_{n}"] = r["delivery_p99_ms"]
                results[f"{prefix}_kb_per_idle_stream_{n}"] = r["kb_per_idle_stream"]
        if 1000 in by_count:
            results[f"{prefix}_p99_1000_vs_0"] = round(
                by_count[1000]["latest_p99_ms"] / base["latest_p99_ms"], 2
            )
    for n in counts:
        after = results.get(f"streams_delivery_p99_ms_{n}")
        before = results.get(f"streams_before_delivery_p99_ms_{n}")
        if after and before:
            results[f"streams_delivery_p99_{n}_after_vs_before"] = round(after / before, 3)


def run_streams(
    pg: PrivatePostgres,
    redis_url: str,
    *,
    workers: int = 2,
    seconds: int = 10,
    connections: int = 32,
    counts: tuple[int, ...] = (0, 1000, 5000),
    rate: float = 4.0,
    baseline_ref: str = "main",
    client_processes: int = 4,
    compare: bool = True,
    burst_rate: float = 100.0,
    burst_streams: int = 1000,
) -> dict[str, Any]:
    """Measure ``latest`` under open streams and the delivery delay; return the figures."""
    limit = raise_fd_limit(4 * max(counts) + 4096)
    url = fresh_database(pg, "tvbench_streams")
    client = redis.Redis.from_url(redis_url)
    now_us = time.time_ns() // 1000
    for i, symbol in enumerate(SYMBOLS):
        client.hset(
            RedisKeys(PREFIX).latest(symbol), mapping=latest_to_hash(tick(symbol, i, now_us))
        )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")},
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": PREFIX,
        "TICKVAULT_API_WORKERS": str(workers),
        "TICKVAULT_API_THREADS": "8",  # read by a gthread baseline only
        "TICKVAULT_API_STREAM_MAX_SECONDS": "3600",
        "TICKVAULT_SYMBOLS": ",".join(SYMBOLS),
    }
    metrics_dir = tempfile.mkdtemp(prefix="tvbench-metrics-")
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    results: dict[str, Any] = {"streams_settings": {
        "workers": workers, "wrk_seconds": seconds, "wrk_connections": connections,
        "publish_per_s": rate, "open_files_limit": limit, "baseline_ref": baseline_ref,
        "client_processes": client_processes, "burst_publish_per_s": burst_rate,
        "burst_streams": burst_streams,
    }}  # fmt: skip
    publisher = Publisher(redis_url, rate)
    publisher.start()
    rows: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with baseline_tree(baseline_ref) as before_path:
        apis = {"before": start_api(env, before_path), "after": start_api(env)}
        try:
            for n in counts:
                for mode, (proc, port) in apis.items():
                    row = measure(port, proc.pid, publisher, n, seconds, connections,
                                  client_processes)  # fmt: skip
                    print(mode, row, flush=True)
                    rows[mode].append(row)
            if burst_rate > 0:  # a busy market: coalescing, not one write per price
                publisher.interval = 1.0 / burst_rate
                for mode, (proc, port) in apis.items():
                    row = measure(port, proc.pid, publisher, burst_streams, seconds,
                                  connections, client_processes)  # fmt: skip
                    print(mode, "burst", row, flush=True)
                    row["kb_per_idle_stream"] = None  # the workers' memory was grown already
                    results[f"streams_burst_{mode}"] = row
                    prefix = "streams_burst" if mode == "after" else "streams_before_burst"
                    results[f"{prefix}_delivery_p99_ms"] = row["delivery_p99_ms"]
                    results[f"{prefix}_delivered_share"] = row["delivered_share"]
                publisher.interval = 1.0 / rate
        finally:
            publisher.stop()
            for proc, _ in apis.values():
                proc.terminate()
                proc.wait(timeout=60)
    summarize(results, rows, counts)
    if compare:
        results["streams_latest_compare"] = compare_latest(
            env, workers, seconds, connections, baseline_ref
        )
    client.close()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", default="0,1000,5000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=4.0, help="prices published per second")
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--burst-rate", type=float, default=100.0, help="0: no burst row")
    parser.add_argument("--no-compare", action="store_true", help="skip latest vs the bare app")
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.streams.split(","))
    with PrivatePostgres() as pg, PrivateRedis() as rds:
        results = run_streams(
            pg,
            rds.url,
            seconds=args.seconds,
            counts=counts,
            rate=args.rate,
            baseline_ref=args.baseline_ref,
            client_processes=args.client_processes,
            burst_rate=args.burst_rate,
            compare=not args.no_compare,
        )
    print(json.dumps({k: v for k, v in results.items() if k != "streams_rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
