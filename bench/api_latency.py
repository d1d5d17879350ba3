"""Benchmark the API: ``latest`` against a bare Flask + Redis endpoint, and at/range/stats.

    python bench/api_latency.py [--reload] [--workers 2] [--threads 8] [--seconds 10]

1. Loads a full synthetic day (BTCUSDT ~3M trades, ETHUSDT ~1.5M) into the dedicated
   database ``tickvault_bench_api`` (once; ``--reload`` forces it).
2. Runs ``tickvault-api`` and the bare app under Gunicorn with the same settings, and drives
   both with ``wrk`` (Debian package ``wrk``) at 32 connections: requests/s and p99.
3. Measures ``at`` and ``range`` latency (p50/p99, sequential keep-alive requests at random
   instants of the day) and ``stats`` over the whole day, with the result cache off.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

import redis
from sqlalchemy.engine import make_url
from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench modules
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # and tests.support

from tests.support.polling import wait_until

from api_dataset import DAY, load, loaded
from tickvault.codec import latest_to_hash
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault.keys import RedisKeys
from tickvault.tick import Tick

BENCH_DB = "tickvault_bench_api"
PREFIX = "tvbench-api"
DAY_MS = int(DAY.timestamp() * 1000)
SYMBOLS = ("BTCUSDT", "ETHUSDT")
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")  # Gunicorn, once bound


def serve(
    cmd: list[str], env: dict[str, str], ready: str, timeout: float = 60
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a Gunicorn server (the API or the bare app) on a port the kernel picks when it
    binds (``{port}`` in *cmd* and *env* stands for 0: no other process can take it first);
    return it and its port, read back from Gunicorn's log, once *ready* (the URL, with
    ``{port}``) answers there."""
    with tempfile.TemporaryFile() as log:  # the server keeps its own descriptor of it
        proc = subprocess.Popen(
            [c.replace("{port}", "0") for c in cmd],
            env={k: v.replace("{port}", "0") for k, v in env.items()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def logged() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")[-2000:]

        def answering() -> int | None:
            if proc.poll() is not None:
                raise RuntimeError(f"{ready}: the server exited {proc.returncode}:\n{logged()}")
            found = LISTENING.search(logged())
            if found is None:
                return None
            port = int(found.group(1))
            with urllib.request.urlopen(ready.replace("{port}", str(port)), timeout=1):
                return port

        try:
            what = f"{ready} to answer"
            port = wait_until(answering, timeout, what, 0.2, ignore=(OSError,), context=logged)
        except BaseException:
            proc.kill()
            proc.wait(10)
            raise
    return proc, port


class Pair(NamedTuple):
    """The API and the bare Flask + Redis endpoint, running under the same Gunicorn settings."""

    api: subprocess.Popen[bytes]
    bare: subprocess.Popen[bytes]
    api_port: int
    bare_port: int

    @property
    def api_url(self) -> str:
        """Return the API's latest-price URL."""
        return f"http://127.0.0.1:{self.api_port}/api/v1/prices/BTCUSDT/latest"

    @property
    def bare_url(self) -> str:
        """Return the bare endpoint's latest-price URL."""
        return f"http://127.0.0.1:{self.bare_port}/latest/BTCUSDT"


def start_pair(env: dict[str, str], workers: int, threads: int) -> Pair:
    """Start the API and the bare endpoint with the same workers and threads; wait for both."""
    api, api_port = serve(
        [sys.executable, "-m", "tickvault_api"],
        {**env, "TICKVAULT_API_BIND": "127.0.0.1:{port}"},
        "http://127.0.0.1:{port}/readyz",
    )
    bare, bare_port = serve(
        [
            sys.executable, "-m", "gunicorn", "--chdir", str(Path(__file__).parent),
            "-k", "gthread", "-w", str(workers), "--threads", str(threads),
            "-b", "127.0.0.1:{port}", "api_bare:create()",
        ],
        env,
        "http://127.0.0.1:{port}/latest/BTCUSDT",
    )  # fmt: skip
    return Pair(api, bare, api_port, bare_port)


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def timed(host: str, port: int, paths: list[str]) -> list[float]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    out = []
    for path in paths:
        t0 = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status == 200, (path, response.status)
    conn.close()
    return out


def cpu_per_request(app: Any, path: str, n: int = 3000, repeats: int = 7) -> float:
    """Return the least CPU time (µs) one in-process request takes: robust to other load."""
    environ = EnvironBuilder(path=path).get_environ()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            for _chunk in app(dict(environ), lambda status, headers: None):
                pass
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latest-only", action="store_true", help="skip at/range/stats")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    base = os.environ.get(
        "TICKVAULT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tickvault"
    )
    db_url = make_url(base).set(database=BENCH_DB).render_as_string(hide_password=False)
    redis_url = os.environ.get("TICKVAULT_REDIS_URL", "redis://127.0.0.1:6379/0")
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    if args.reload or not loaded(engine):
        t0 = time.perf_counter()
        load(engine)
        print(f"loaded the synthetic day in {time.perf_counter() - t0:.0f} s")
    engine.dispose()

    client = redis.Redis.from_url(redis_url)
    tick = Tick(
        "BTCUSDT", 1, "61000.01000000", "0.00100000", DAY_MS * 1000, DAY_MS * 1000, False, 0
    )
    client.hset(RedisKeys(PREFIX).latest("BTCUSDT"), mapping=latest_to_hash(tick))

    metrics_dir = tempfile.mkdtemp(prefix="tvbench-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # as under tickvault-api
    from api_bare import create
    from tickvault_api import create_app
    from tickvault_api.settings import ApiSettings

    settings = ApiSettings(_env_file=None, redis_url=redis_url, redis_prefix=PREFIX)  # type: ignore[call-arg]
    os.environ["TICKVAULT_REDIS_PREFIX"] = PREFIX
    os.environ["TICKVAULT_REDIS_URL"] = redis_url
    api_cpu = cpu_per_request(create_app(settings), "/api/v1/prices/BTCUSDT/latest")
    bare_cpu = cpu_per_request(create(), "/latest/BTCUSDT")
    print(
        f"CPU per request in process: latest {api_cpu:.0f} µs, bare {bare_cpu:.0f} µs "
        f"(+{api_cpu - bare_cpu:.0f} µs)"
    )
    env = {
        **os.environ,
        "TICKVAULT_DATABASE_URL": db_url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": PREFIX,
        "TICKVAULT_API_WORKERS": str(args.workers),
        "TICKVAULT_API_THREADS": str(args.threads),
        "TICKVAULT_API_CACHE_TTL_SECONDS": "0",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    api, bare, api_port, _ = pair = start_pair(env, args.workers, args.threads)
    api_url, bare_url = pair.api_url, pair.bare_url
    try:
        wrk(api_url, 2, args.connections)  # warm up both
        wrk(bare_url, 2, args.connections)
        # Alternate the two a few times: other load on the machine hits both alike.
        rounds = [
            (
                wrk(bare_url, args.seconds, args.connections),
                wrk(api_url, args.seconds, args.connections),
            )
            for _ in range(args.rounds)
        ]
        for i, ((b_rps, _), (a_rps, _)) in enumerate(rounds, 1):
            print(
                f"round {i}: bare {b_rps:8.0f} req/s, latest {a_rps:8.0f} req/s, "
                f"{a_rps / b_rps:6.1%}"
            )
        (bare_rps, bare_p99), (api_rps, api_p99) = sorted(rounds, key=lambda r: r[1][0] / r[0][0])[
            len(rounds) // 2
        ]
        print("median round:")
        print(f"bare Flask+Redis: {bare_rps:8.0f} req/s  p99 {bare_p99:6.2f} ms")
        print(f"tickvault latest: {api_rps:8.0f} req/s  p99 {api_p99:6.2f} ms")
        print(f"latest / bare   : {api_rps / bare_rps:6.1%}  (aim >= 80%)")

        if args.latest_only:
            return 0
        rng = random.Random(1)
        at = [
            f"/api/v1/prices/{rng.choice(SYMBOLS)}/at?time={DAY_MS + rng.randrange(86_400_000)}"
            for _ in range(args.samples)
        ]
        minutes = [
            f"/api/v1/prices/{rng.choice(('BTCUSDT', 'ETHUSDT'))}/range?minute="
            + time.strftime(
                "%Y-%m-%dT%H:%M", time.gmtime(DAY_MS // 1000 + 60 * rng.randrange(1440))
            )
            for _ in range(args.samples)
        ]
        for name, paths in (("at", at), ("range", minutes)):
            ms = timed("127.0.0.1", api_port, paths)
            print(
                f"{name:5} p50 {pct(ms, 0.5):6.2f} ms  p99 {pct(ms, 0.99):6.2f} ms"
                "  (aim p99 <= 5 ms)"
            )
        day = f"start={DAY_MS}&end={DAY_MS + 86_400_000}"
        for symbol in ("BTCUSDT", "ETHUSDT"):
            ms = timed("127.0.0.1", api_port, [f"/api/v1/prices/{symbol}/stats?{day}"] * 7)
            print(
                f"stats {symbol} whole day: median {statistics.median(ms):6.1f} ms  "
                f"max {max(ms):6.1f} ms  (aim <= 300 ms)"
            )
        edge = f"start={DAY_MS + 12_345}&end={DAY_MS + 86_400_000 - 54_321}"
        ms = timed("127.0.0.1", api_port, [f"/api/v1/prices/BTCUSDT/stats?{edge}"] * 7)
        print(
            f"stats BTCUSDT day with partial edge minutes: median {statistics.median(ms):6.1f} ms"
        )
    finally:
        for proc in (api, bare):
            proc.terminate()
            proc.wait(timeout=30)
        client.delete(RedisKeys(PREFIX).latest("BTCUSDT"))
        client.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
