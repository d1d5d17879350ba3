"""Measure the replay exchange's own CPU and memory while it serves a whole synthetic market.

Starts ``tickvault-replay --synthetic-market N`` (default 2,000 symbols, default rates) and a
collector-shaped client in this process: every TRADING symbol's ``@trade`` stream, subscribed
with SUBSCRIBE messages of at most 4,088 bytes at 4 a second on connections of at most 1,000
streams, plus ``!ticker_1h@arr``; ``GET /api/v3/ticker/24hr`` every 60 s and
``exchangeInfo`` every 300 s. After the subscriptions and a warm-up it samples the replay
process's CPU time (``/proc/PID/stat``) and RSS for ``--seconds``. The baseline, run the same
way, is ``--synthetic BTCUSDT,ETHUSDT`` at the same total trade rate, so the ratio shows what
the symbol count itself costs.

    python bench/replay_market.py [--symbols 2000] [--seconds 600] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.private_servers import ReplayProcess, replay_process  # noqa: E402
from tests.support.replay_market import subscribe_batches  # noqa: E402

from common import cpu_s, rss_mb  # noqa: E402

PER_CONNECTION = 1000
WARM_UP_S = 10.0


async def _connection(url: str, streams: list[str], counts: list[int], stop: asyncio.Event) -> None:
    async with websockets.connect(url, max_queue=None, compression=None) as ws:
        for n, chunk in enumerate(subscribe_batches(streams)):
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": chunk, "id": n}))
            await asyncio.sleep(0.25)
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.5):
                    await ws.recv()
            except TimeoutError:
                continue
            counts[0] += 1


async def _poll_rest(replay: ReplayProcess, stop: asyncio.Event) -> None:
    loop, started = asyncio.get_running_loop(), time.monotonic()
    next_info = 0.0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        await loop.run_in_executor(None, replay.get, "/api/v3/ticker/24hr")
        if elapsed >= next_info:
            await loop.run_in_executor(None, replay.get, "/api/v3/exchangeInfo")
            next_info += 300
        try:
            async with asyncio.timeout(60):
                await stop.wait()
        except TimeoutError:
            pass


async def _load(replay: ReplayProcess, seconds: float) -> dict[str, Any]:
    info = replay.get("/api/v3/exchangeInfo", symbolStatus="TRADING")["symbols"]
    streams = [f"{s['symbol'].lower()}@trade" for s in info]
    groups = [streams[i : i + PER_CONNECTION] for i in range(0, len(streams), PER_CONNECTION)]
    groups[0] = ["!ticker_1h@arr", *groups[0]]
    stop = asyncio.Event()
    counts = [0]
    tasks = [
        asyncio.create_task(_connection(f"{replay.ws_url}/stream", g, counts, stop)) for g in groups
    ]
    tasks.append(asyncio.create_task(_poll_rest(replay, stop)))
    await asyncio.sleep(WARM_UP_S + 0.25 * max(len(subscribe_batches(g)) for g in groups))
    pid = replay.process.pid
    trades0 = sum(v["trades_available"] for v in replay.stats()["symbols"].values())
    cpu0, frames0, t0 = cpu_s(pid), counts[0], time.monotonic()
    rss = []
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(min(10.0, seconds))
        rss.append(rss_mb(pid))
    elapsed = time.monotonic() - t0
    cpu = cpu_s(pid) - cpu0
    trades = sum(v["trades_available"] for v in replay.stats()["symbols"].values()) - trades0
    frames = counts[0] - frames0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": len(streams),
        "connections": len(groups),
        "seconds": round(elapsed, 1),
        "cpu_pct": round(100 * cpu / elapsed, 2),
        "rss_mb_max": round(max(rss), 1),
        "trades_per_s": round(trades / elapsed, 1),
        "frames_per_s": round(frames / elapsed, 1),
        "cpu_us_per_trade": round(1e6 * cpu / max(1, trades), 1),
    }


def run(args: list[str], seconds: float) -> dict[str, Any]:
    """Run the replay with *args* under the collector-shaped load; return what it cost."""
    with replay_process(*args, "--log-level", "WARNING") as replay:
        return asyncio.run(_load(replay, seconds))


def main() -> int:
    """Measure the whole market, then the two-symbol baseline at the same trade rate."""
    p = argparse.ArgumentParser()
    p.add_argument("--symbols", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args()
    market = run(["--synthetic-market", str(args.symbols)], args.seconds)
    print(f"market of {args.symbols} symbols: {json.dumps(market)}")
    if not args.no_baseline:
        rate = max(1.0, market["trades_per_s"] / 2)
        base = run(["--synthetic", "BTCUSDT,ETHUSDT", "--rate", f"{rate:.1f}"], args.seconds)
        print(f"baseline of 2 symbols at {rate:.1f}/s each: {json.dumps(base)}")
        ratio = market["cpu_pct"] / base["cpu_pct"] if base["cpu_pct"] else float("nan")
        print(f"CPU ratio market/baseline: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
