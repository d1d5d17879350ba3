"""Benchmark the collector: sustained trades/s from the replay at --speed 0 into Redis, and RSS.

Runs, in one go and on the same machine:

1. a baseline: a bare websockets client that only counts frames from the same replay (the
   ceiling the replay and the socket allow);
2. the real ``tickvault-collector`` subprocess, publishing into a scratch Redis prefix,
   until at least ``--trades`` trades (the recordings looped) are in the stream.

Prints trades/s for both, their ratio, and the collector's RSS at start and end.
Usage: ``python bench/collector_throughput.py [--trades 500000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.private_servers import replay_process  # noqa: E402
from tests.support.paths import BTC_TRADES, ETH_TRADES  # noqa: E402

REDIS_URL = os.environ.get("TICKVAULT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
ARGS = (
    "--recording",
    str(BTC_TRADES),
    "--recording",
    str(ETH_TRADES),
    "--loop",
    "--speed",
    "0",
    "--no-limits",
)


def cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds *pid* has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Return the resident set size of *pid* in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def bare_client(url: str, count: int) -> tuple[float, float]:
    """Return frames per second and per CPU-second of a client that only reads frames."""
    async with connect(url, compression=None, ping_interval=None, max_queue=4096) as ws:
        await ws.recv()
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            await ws.recv()
        return count / (time.perf_counter() - start), count / (time.process_time() - cpu)


def run_collector(
    replay_ws: str, replay_rest: str, trades: int
) -> tuple[float, float, float, float]:
    """Return trades/s, trades per CPU-second and RSS at start and end of the collector."""
    prefix = f"tvbench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    stream = f"{prefix}:ticks"
    env = {
        **os.environ,
        "TICKVAULT_REDIS_URL": REDIS_URL,
        "TICKVAULT_REDIS_PREFIX": prefix,
        "TICKVAULT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
        "TICKVAULT_SYMBOLS": "BTCUSDT,ETHUSDT",
        "TICKVAULT_BINANCE_WS_URL": replay_ws,
        "TICKVAULT_BINANCE_REST_URL": replay_rest,
        "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
        "TICKVAULT_STREAM_MAXLEN": str(trades * 2),
        "TICKVAULT_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tickvault_collector"], env=env)
    try:
        warm = 20_000
        while (client.xlen(stream) or 0) < warm:
            if proc.poll() is not None:
                raise SystemExit(f"collector exited {proc.returncode}")
            time.sleep(0.01)
        rss_start = rss_mb(proc.pid)
        first, start, cpu = client.xlen(stream), time.perf_counter(), cpu_s(proc.pid)
        while client.xlen(stream) - first < trades:
            time.sleep(0.05)
        done = client.xlen(stream) - first
        rate = done / (time.perf_counter() - start)
        per_cpu = done / max(1e-9, cpu_s(proc.pid) - cpu)
        return rate, per_cpu, rss_start, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


def main() -> None:
    """Run the baseline and the collector; print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=500_000)
    args = parser.parse_args()
    with replay_process(*ARGS) as replay:
        url = f"{replay.ws_url}/stream?streams=btcusdt@trade/ethusdt@trade"
        base, base_cpu = asyncio.run(bare_client(url, min(args.trades, 300_000)))
    with replay_process(*ARGS) as replay:
        rate, per_cpu, rss0, rss1 = run_collector(replay.ws_url, replay.rest_url, args.trades)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"baseline (bare websockets reader): {base:,.0f} frames/s, "
        f"{base_cpu:,.0f} frames per CPU-second"
    )
    print(
        f"collector into Redis:              {rate:,.0f} trades/s "
        f"({rate / base:.2f} x baseline), {per_cpu:,.0f} trades per collector CPU-second "
        f"({per_cpu / base_cpu:.2f} x baseline), over {args.trades:,} trades"
    )
    print(
        f"collector RSS: {rss0:.1f} MiB after warm-up, {rss1:.1f} MiB at end "
        f"({rss1 - rss0:+.1f} MiB)"
    )


if __name__ == "__main__":
    main()
