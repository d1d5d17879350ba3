"""Binance's connection limits on the replay WebSocket, each scaled down for the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tickvault_replay import Limits, ReplayConfig, RunningReplay, running_replay

pytestmark = pytest.mark.unit


def _run(scenario: Callable[[RunningReplay], Awaitable[Any]], **limits: Any) -> Any:
    config = ReplayConfig(
        synthetic=("BTCUSDT", "ETHUSDT"), rate=50.0, speed=1.0, port=0, limits=Limits(**limits)
    )

    async def main() -> Any:
        async with running_replay(config) as replay:
            return await scenario(replay)

    return asyncio.run(main())


def test_more_than_five_messages_a_second_closes_with_1008() -> None:
    async def scenario(replay: RunningReplay) -> int | None:
        async with websockets.connect(f"{replay.ws_url}/ws") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    for n in range(10):
                        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
                    while True:
                        await ws.recv()
        return closed.value.rcvd.code if closed.value.rcvd else None

    assert _run(scenario) == 1008


def test_subscribing_past_the_stream_cap_is_refused() -> None:
    async def scenario(replay: RunningReplay) -> list[Any]:
        async with websockets.connect(f"{replay.ws_url}/ws") as ws:
            replies = []
            for n, params in enumerate(
                [["btcusdt@trade", "ethusdt@trade"], ["a@trade"], ["b@trade"]]
            ):
                await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params, "id": n}))
                async with asyncio.timeout(5):
                    while "id" not in (reply := json.loads(await ws.recv())):
                        pass
                replies.append(reply)
            return replies

    replies = _run(scenario, max_streams=3)
    assert replies[:2] == [{"result": None, "id": 0}, {"result": None, "id": 1}]
    assert replies[2] == {"error": {"code": 2, "msg": "Invalid request: too many streams"}, "id": 2}


def test_pings_every_interval_and_a_close_when_no_pong_comes() -> None:
    async def scenario(replay: RunningReplay) -> tuple[int, int | None]:
        pings = 0
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{replay.ws_url}/ws", autoping=False) as ws,
        ):
            async with asyncio.timeout(10):
                while True:
                    msg = await ws.receive()
                    if msg.type is aiohttp.WSMsgType.PING:
                        pings += 1
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        return pings, ws.close_code

    pings, code = _run(scenario, ping_interval_s=0.1, pong_timeout_s=0.5)
    assert pings >= 3 and code == 1008


def test_answered_pings_keep_the_connection_open() -> None:
    async def scenario(replay: RunningReplay) -> bool:
        async with websockets.connect(f"{replay.ws_url}/ws/btcusdt@trade") as ws:
            async with asyncio.timeout(10):
                for _ in range(20):
                    await ws.recv()
            await asyncio.sleep(0.6)  # several ping intervals, each answered by websockets
            async with asyncio.timeout(10):
                await ws.recv()
            return True

    assert _run(scenario, ping_interval_s=0.1, pong_timeout_s=0.3, ws_msg_rate=0)


def test_too_many_connection_attempts_get_429_on_the_handshake() -> None:
    async def scenario(replay: RunningReplay) -> int:
        for _ in range(2):
            async with websockets.connect(f"{replay.ws_url}/ws"):
                pass
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{replay.ws_url}/ws")
        return refused.value.response.status_code

    assert _run(scenario, max_connects=2) == 429


def test_uppercase_streams_are_acked_but_deliver_nothing() -> None:
    async def scenario(replay: RunningReplay) -> tuple[Any, list[Any]]:
        async with websockets.connect(f"{replay.ws_url}/ws") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 7}))
            ack = json.loads(await ws.recv())
            extra: list[Any] = []
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    extra.append(await ws.recv())
            return ack, extra

    ack, extra = _run(scenario)
    assert ack == {"result": None, "id": 7} and extra == []


def test_set_property_combined_switches_the_payload_shape() -> None:
    async def scenario(replay: RunningReplay) -> tuple[Any, Any, Any]:
        async with websockets.connect(f"{replay.ws_url}/ws/btcusdt@trade") as ws:
            async with asyncio.timeout(10):
                raw = json.loads(await ws.recv())
                await ws.send(
                    json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 1})
                )
                while "id" not in (ack := json.loads(await ws.recv())):
                    pass
                wrapped = json.loads(await ws.recv())
            return raw, ack, wrapped

    raw, ack, wrapped = _run(scenario)
    assert raw["e"] == "trade" and ack == {"result": None, "id": 1}
    assert wrapped["stream"] == "btcusdt@trade" and wrapped["data"]["e"] == "trade"
