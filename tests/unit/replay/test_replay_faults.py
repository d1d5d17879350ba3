"""Every scriptable fault, seen from the client's side of the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import websockets
from tests.support.paths import BTC_TRADES
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tickvault_replay import Limits, ReplayConfig, RunningReplay, running_replay

pytestmark = pytest.mark.unit

FIRST = 3735683259  # the first BTCUSDT trade id of the recording
TRADE_URL = "/ws/btcusdt@trade"


def _run(scenario: Callable[[RunningReplay], Awaitable[Any]], **kw: Any) -> Any:
    base: dict[str, Any] = {"recordings": (str(BTC_TRADES),), "speed": 0.0, "port": 0}
    base.update(kw)

    async def main() -> Any:
        async with running_replay(ReplayConfig(**base)) as replay:
            return await scenario(replay)

    return asyncio.run(main())


async def _post(replay: RunningReplay, script: Any) -> None:
    url = f"{replay.rest_url}/_replay/faults"
    async with aiohttp.ClientSession() as http, http.post(url, json=script) as resp:
        assert resp.status == 200, await resp.text()


async def _ids(ws: Any, count: int) -> list[int]:
    async with asyncio.timeout(30):
        return [json.loads(await ws.recv())["t"] for _ in range(count)]


def test_dropped_ids_are_missing_on_the_websocket_but_served_by_rest() -> None:
    async def scenario(replay: RunningReplay) -> tuple[list[int], list[int]]:
        await _post(
            replay,
            {
                "faults": [
                    {"type": "drop", "symbol": "BTCUSDT", "trade_ids": [FIRST + 1]},
                    {"type": "drop", "from_id": FIRST + 4, "to_id": FIRST + 6},
                ]
            },
        )
        async with websockets.connect(replay.ws_url + TRADE_URL, close_timeout=0.5) as ws:
            ids = await _ids(ws, 6)
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{replay.rest_url}/api/v3/historicalTrades",
                params={"symbol": "BTCUSDT", "fromId": str(FIRST), "limit": "10"},
            ) as resp,
        ):
            rest = [row["id"] for row in await resp.json()]
        return ids, rest

    ids, rest = _run(scenario)
    offsets = [i - FIRST for i in ids]
    assert offsets == [0, 2, 3, 7, 8, 9]
    assert rest == list(range(FIRST, FIRST + 10))


def test_a_dropped_fraction_leaves_gaps_and_is_reproducible() -> None:
    async def scenario(replay: RunningReplay) -> list[int]:
        await _post(replay, {"type": "drop", "fraction": 0.25, "seed": 7})
        async with websockets.connect(replay.ws_url + TRADE_URL, close_timeout=0.5) as ws:
            return await _ids(ws, 400)

    first, second = _run(scenario), _run(scenario)
    assert first == second
    assert first[-1] - first[0] + 1 - 400 in range(80, 220)


def test_duplicated_frames_arrive_twice() -> None:
    async def scenario(replay: RunningReplay) -> list[int]:
        await _post(replay, {"type": "duplicate", "trade_ids": [FIRST + 2], "copies": 2})
        async with websockets.connect(replay.ws_url + TRADE_URL, close_timeout=0.5) as ws:
            return await _ids(ws, 6)

    assert [i - FIRST for i in _run(scenario)] == [0, 1, 2, 2, 2, 3]


@pytest.mark.parametrize("kind", ["truncated", "wrong_types", "unknown_event", "binary"])
def test_a_malformed_frame_comes_before_the_real_one(kind: str) -> None:
    async def scenario(replay: RunningReplay) -> list[str | bytes]:
        await _post(replay, {"type": "malformed", "kind": kind, "trade_ids": [FIRST + 1]})
        async with websockets.connect(replay.ws_url + TRADE_URL, close_timeout=0.5) as ws:
            async with asyncio.timeout(30):
                return [await ws.recv() for _ in range(3)]

    good, bad, after = _run(scenario)
    assert json.loads(good)["t"] == FIRST and json.loads(after)["t"] == FIRST + 1
    if kind == "truncated":
        assert isinstance(bad, str)
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad)
    elif kind == "binary":
        assert isinstance(bad, bytes) and json.loads(bad)["t"] == FIRST + 1
    elif kind == "wrong_types":
        data = json.loads(bad)
        assert data["t"] == str(FIRST + 1) and isinstance(data["p"], float)
    else:
        assert json.loads(bad)["e"] == "mysteryEvent"


def test_a_delayed_frame_is_overtaken_by_later_ones() -> None:
    async def scenario(replay: RunningReplay) -> list[int]:
        await _post(replay, {"type": "delay", "trade_ids": [FIRST + 1], "ms": 300})
        async with websockets.connect(replay.ws_url + TRADE_URL, max_queue=None) as ws:
            return await _ids(ws, 19904)

    ids = _run(scenario)
    assert sorted(ids) == list(range(FIRST, FIRST + 19904))
    assert ids.index(FIRST + 1) > ids.index(FIRST + 2)


def test_a_silent_socket_sends_neither_data_nor_pings() -> None:
    async def scenario(replay: RunningReplay) -> tuple[set[str], set[str]]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{replay.ws_url}/ws/btcusdt@trade", autoping=False) as ws,
        ):
            before: set[str] = set()
            async with asyncio.timeout(10):
                while before != {"TEXT", "PING"}:
                    before.add((await ws.receive()).type.name)
            await _post(replay, {"type": "silence"})
            after: set[str] = set()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.0):
                    while True:
                        after.add((await ws.receive()).type.name)
            return before, after

    limits = Limits(ping_interval_s=0.1)
    before, after = _run(
        scenario, recordings=(), synthetic=("BTCUSDT",), rate=200.0, speed=1.0, limits=limits
    )
    assert before == {"TEXT", "PING"}
    assert after <= {"TEXT"}  # frames already in flight may still land


def test_an_abrupt_close_at_a_trade_id_is_a_1006_for_the_client() -> None:
    async def scenario(replay: RunningReplay) -> tuple[list[int], int | None]:
        await _post(replay, {"type": "abrupt_close", "symbol": "BTCUSDT", "at_trade_id": FIRST + 4})
        got: list[int] = []
        async with websockets.connect(replay.ws_url + TRADE_URL) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        got.append(json.loads(await ws.recv())["t"])
        return got, closed.value.rcvd.code if closed.value.rcvd else 1006

    got, code = _run(scenario)
    assert got == list(range(FIRST, FIRST + 5))
    assert code == 1006


def test_a_scaled_down_lifetime_closes_with_1001() -> None:
    async def scenario(replay: RunningReplay) -> int | None:
        await _post(replay, {"type": "lifetime", "seconds": 0.3})
        async with websockets.connect(replay.ws_url + TRADE_URL) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
        return closed.value.rcvd.code if closed.value.rcvd else None

    assert _run(scenario, speed=1.0) == 1001


@pytest.mark.parametrize("path", ["/ws/btcusdt@trade", "/stream?streams=btcusdt@trade"])
def test_server_shutdown_arrives_in_the_connections_shape_then_a_close(path: str) -> None:
    async def scenario(replay: RunningReplay) -> tuple[dict[str, Any], int | None]:
        async with websockets.connect(replay.ws_url + path) as ws:
            await _post(replay, {"type": "server_shutdown", "close_after_s": 0.2})
            notice: dict[str, Any] = {}
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        frame = json.loads(await ws.recv())
                        if "serverShutdown" in json.dumps(frame):
                            notice = frame
        return notice, closed.value.rcvd.code if closed.value.rcvd else None

    notice, code = _run(scenario, speed=1.0)
    if path.startswith("/stream"):
        assert notice["stream"] == "!serverShutdown"
        assert notice["data"]["e"] == "serverShutdown" and isinstance(notice["data"]["E"], int)
    else:
        assert notice["e"] == "serverShutdown" and isinstance(notice["E"], int)
    assert code == 1001


def test_scripted_handshake_429s_refuse_the_next_connections_only() -> None:
    async def scenario(replay: RunningReplay) -> list[int]:
        await _post(replay, {"type": "handshake_429", "count": 2, "retry_after": 3})
        statuses = []
        for _ in range(2):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(replay.ws_url + TRADE_URL)
            statuses.append(refused.value.response.status_code)
            assert refused.value.response.headers["Retry-After"] == "3"
        async with websockets.connect(replay.ws_url + TRADE_URL, close_timeout=0.5) as ws:
            await ws.recv()
            statuses.append(101)
        return statuses

    assert _run(scenario) == [429, 429, 101]


def test_rest_error_bursts_answer_the_next_requests_then_recover() -> None:
    async def scenario(replay: RunningReplay) -> list[tuple[int, Any, str | None]]:
        await _post(
            replay,
            [
                {"type": "rest_error", "status": 429, "count": 1, "retry_after": 2},
                {
                    "type": "rest_error",
                    "status": 503,
                    "count": 2,
                    "path": "/api/v3/historicalTrades",
                },
            ],
        )
        out = []
        async with aiohttp.ClientSession() as http:
            for _ in range(4):
                async with http.get(
                    f"{replay.rest_url}/api/v3/historicalTrades", params={"symbol": "BTCUSDT"}
                ) as resp:
                    out.append((resp.status, await resp.json(), resp.headers.get("Retry-After")))
        return out

    results = _run(scenario)
    assert [r[0] for r in results] == [429, 503, 503, 200]
    assert results[0][1]["code"] == -1003 and results[0][2] == "2"
    assert results[1][1]["code"] == -1001
