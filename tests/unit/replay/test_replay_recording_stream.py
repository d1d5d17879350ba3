"""The real BTCUSDT and ETHUSDT recordings, served over the WebSocket to a plain client."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from tests.support.paths import BTC_TRADES, ETH_TRADES, TRADE_RECORDINGS
from tests.support.recordings import all_recorded_trades

from tickvault_replay import ReplayConfig, running_replay

pytestmark = pytest.mark.unit


def _config(**kw: object) -> ReplayConfig:
    base: dict[str, object] = {
        "recordings": tuple(str(p) for p in TRADE_RECORDINGS),
        "speed": 0.0,
        "port": 0,
    }
    base.update(kw)
    return ReplayConfig(**base)  # type: ignore[arg-type]


def test_every_recorded_trade_frame_arrives_byte_identical_in_recorded_order() -> None:
    expected = all_recorded_trades()
    total = sum(len(v) for v in expected.values())

    async def scenario() -> tuple[dict[str, list[str]], dict[str, object]]:
        async with running_replay(_config()) as replay:
            got: dict[str, list[str]] = {"BTCUSDT": [], "ETHUSDT": []}
            url = f"{replay.ws_url}/stream?streams=btcusdt@trade/ethusdt@trade"
            async with websockets.connect(url, max_queue=None) as ws, asyncio.timeout(60):
                for _ in range(total):
                    text = await ws.recv()
                    assert isinstance(text, str)
                    got[json.loads(text)["data"]["s"]].append(text)
            for _ in range(200):
                if replay.server.market.finished:
                    break
                await asyncio.sleep(0.01)
            return got, replay.server.market.stats()

    got, stats = asyncio.run(scenario())
    for symbol, trades in expected.items():
        assert got[symbol] == [t.raw for t in trades]
        assert [json.loads(g)["data"] for g in got[symbol]] == [
            json.loads(t.raw)["data"] for t in trades
        ]
    assert stats["finished"] is True
    symbols = stats["symbols"]
    assert isinstance(symbols, dict)
    assert symbols["BTCUSDT"] == {
        "first_trade_id": 3735683259,
        "last_trade_id": 3735703162,
        "trades_available": 19904,
        "frames_sent": 19904,
    }
    assert symbols["ETHUSDT"]["trades_available"] == 14515


def test_raw_path_stream_delivers_bare_trade_objects_and_microseconds_on_request() -> None:
    first = all_recorded_trades()["BTCUSDT"][0]

    async def first_frame(query: str) -> dict[str, object]:
        async with running_replay(_config(recordings=(str(BTC_TRADES),))) as replay:
            url = f"{replay.ws_url}/ws/btcusdt@trade{query}"
            async with websockets.connect(url, close_timeout=0.5) as ws:
                frame: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
                return frame

    ms = asyncio.run(first_frame(""))
    us = asyncio.run(first_frame("?timeUnit=MICROSECOND"))
    assert ms == json.loads(first.raw)["data"]
    assert us["E"] == first.event_time_ms * 1000 and us["T"] == first.trade_time_ms * 1000
    assert us["p"] == first.price and us["t"] == first.trade_id


def test_loop_shifts_ids_and_times_so_no_trade_id_repeats() -> None:
    count = len(all_recorded_trades()["ETHUSDT"])

    async def scenario() -> list[dict[str, int]]:
        config = _config(recordings=(str(ETH_TRADES),), loop=True, speed=3000.0)
        async with running_replay(config) as replay:
            url = f"{replay.ws_url}/ws/ethusdt@trade"
            async with (
                websockets.connect(url, max_queue=None, close_timeout=1) as ws,
                asyncio.timeout(60),
            ):
                return [json.loads(await ws.recv()) for _ in range(count + 50)]

    frames = asyncio.run(scenario())
    ids = [f["t"] for f in frames]
    assert ids == list(range(ids[0], ids[0] + count + 50))
    assert frames[count]["T"] > frames[count - 1]["T"]
    assert frames[count]["p"] == frames[0]["p"] and frames[count]["q"] == frames[0]["q"]


def test_a_late_subscriber_sees_only_what_happens_after_it_subscribes() -> None:
    async def scenario() -> tuple[int, int]:
        async with running_replay(_config(speed=200.0)) as replay:
            url = f"{replay.ws_url}/ws/btcusdt@trade"
            async with websockets.connect(url, close_timeout=1) as early:
                first_early = json.loads(await asyncio.wait_for(early.recv(), 10))["t"]
                async with asyncio.timeout(30):
                    for _ in range(300):
                        await early.recv()
                async with websockets.connect(url, close_timeout=1) as late:
                    first_late = json.loads(await asyncio.wait_for(late.recv(), 10))["t"]
            return first_early, first_late

    first_early, first_late = asyncio.run(scenario())
    assert first_late > first_early + 300
