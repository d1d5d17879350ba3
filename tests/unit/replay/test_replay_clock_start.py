"""A recording's clock starts when its first client subscribes, so nobody misses its start."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from tests.support.paths import BTC_TRADES
from tests.support.recordings import read_trades

from tickvault_replay import ReplayConfig, running_replay

pytestmark = pytest.mark.unit


def _config(**kw: object) -> ReplayConfig:
    base: dict[str, object] = {"recordings": (str(BTC_TRADES),), "speed": 200.0, "port": 0}
    base.update(kw)
    return ReplayConfig(**base)  # type: ignore[arg-type]


def test_late_subscriber_at_speed_still_gets_the_first_recorded_trade() -> None:
    first = read_trades(BTC_TRADES)[0]

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        async with running_replay(_config()) as replay:
            await asyncio.sleep(1.0)  # at 200x a free-running clock would be 200 s in by now
            before = replay.server.market.stats()
            url = f"{replay.ws_url}/stream?streams=btcusdt@trade"
            async with websockets.connect(url, close_timeout=0.1) as ws, asyncio.timeout(30):
                frame = await ws.recv()
            assert isinstance(frame, str)
            return before, json.loads(frame)

    before, frame = asyncio.run(scenario())
    assert before["symbols"]["BTCUSDT"]["trades_available"] == 0  # type: ignore[index]
    assert frame == json.loads(first.raw)


def test_start_now_runs_the_clock_without_subscribers() -> None:
    async def scenario() -> int:
        async with running_replay(_config(start_now=True)) as replay, asyncio.timeout(30):
            while True:
                available = replay.server.market.stats()["symbols"]["BTCUSDT"]
                if available["trades_available"] > 0:  # type: ignore[index]
                    return int(available["trades_available"])  # type: ignore[index]
                await asyncio.sleep(0.05)

    assert asyncio.run(scenario()) > 0
