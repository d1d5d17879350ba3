"""Measure trade frames/s the replay exchange delivers at ``--speed 0`` to 1 and 4 clients.

Starts ``tickvault-replay`` as a subprocess on the real BTCUSDT+ETHUSDT recordings with
``--loop --speed 0 --no-limits``, connects N raw WebSocket clients (a minimal frame counter,
so the client is not the bottleneck; ``--client websockets`` uses the websockets library
instead) subscribed to ``btcusdt@trade/ethusdt@trade`` and counts frames for a fixed time.

    python bench/replay_throughput.py [--seconds 5] [--clients 1 4] [--client raw|websockets]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.private_servers import replay_process  # noqa: E402
from tests.support.paths import TRADE_RECORDINGS  # noqa: E402

PATH = "/stream?streams=btcusdt@trade/ethusdt@trade"


class Counter(asyncio.Protocol):
    """Counts text frames after a hand-made upgrade handshake."""

    def __init__(self, host: str, port: int) -> None:
        self.frames = 0
        self.buf = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            del buf[: end + 4]
            self.upgraded.set_result(None)
        i, n, frames = 0, len(buf), 0
        while i + 2 <= n:
            size = buf[i + 1] & 0x7F
            head = 2
            if size == 126:
                if i + 4 > n:
                    break
                size, head = int.from_bytes(buf[i + 2 : i + 4], "big"), 4
            elif size == 127:
                if i + 10 > n:
                    break
                size, head = int.from_bytes(buf[i + 2 : i + 10], "big"), 10
            if i + head + size > n:
                break
            if buf[i] & 0x0F == 1:
                frames += 1
            i += head + size
        del buf[:i]
        self.frames += frames


async def _raw_clients(port: int, count: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(count):
        _, proto = await loop.create_connection(
            lambda: Counter("127.0.0.1", port), "127.0.0.1", port
        )
        clients.append(proto)
    await asyncio.gather(*(c.upgraded for c in clients))
    await asyncio.sleep(0.5)  # warm-up: the loop passes begin
    before = sum(c.frames for c in clients)
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    total = sum(c.frames for c in clients) - before
    elapsed = time.perf_counter() - start
    for c in clients:
        assert c.transport is not None
        c.transport.close()
    return total / elapsed


async def _ws_clients(port: int, count: int, seconds: float) -> float:
    import websockets

    counts = [0] * count
    stop = time.perf_counter() + seconds + 0.5

    async def one(i: int) -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}{PATH}", max_queue=None, compression=None
        ) as ws:
            while time.perf_counter() < stop:
                await ws.recv()
                counts[i] += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return sum(counts) / (seconds + 0.5)


def main() -> int:
    """Run the benchmark and print frames/s per client count."""
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    p.add_argument("--client", choices=["raw", "websockets"], default="raw")
    args = p.parse_args()
    recs = [a for path in TRADE_RECORDINGS for a in ("--recording", str(path))]
    for count in args.clients:
        with replay_process(
            *recs,
            "--loop",
            "--speed",
            "0",
            "--no-limits",
            "--retention",
            "200000",
            "--log-level",
            "WARNING",
        ) as replay:
            run = _raw_clients if args.client == "raw" else _ws_clients
            rate = asyncio.run(run(replay.port, count, args.seconds))
        print(
            f"{count} client(s), {args.client}: {rate:,.0f} trade frames/s in total"
            f" ({rate / count:,.0f} per client)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
