"""The whole market's streams: ``!ticker_1h@arr`` once a second with only what changed, the
retired ``!ticker@arr``, and SUBSCRIBE at Binance's limits with thousands of streams."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
import websockets
from tests.support.replay_market import MarketClient, run_market, subscribe_batches

pytestmark = pytest.mark.unit

ENTRY_KEYS = [*"eEspPohlcwvqOCFLn"]


async def _control(ws: Any, method: str, params: list[Any] | None, request_id: int) -> Any:
    message: dict[str, Any] = {"method": method, "id": request_id}
    if params is not None:
        message["params"] = params
    await ws.send(json.dumps(message))
    async with asyncio.timeout(10):
        while True:
            reply = json.loads(await ws.recv())
            if isinstance(reply, dict) and reply.get("id") == request_id:
                return reply


async def _pushes(ws: Any, count: int, stream: str) -> list[tuple[float, list[Any]]]:
    out = []
    async with asyncio.timeout(30):
        while len(out) < count:
            message = json.loads(await ws.recv())
            if isinstance(message, dict) and message.get("stream") == stream:
                out.append((asyncio.get_running_loop().time(), message["data"]))
    return out


def test_the_1h_ticker_array_comes_every_second_with_only_the_symbols_that_changed() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        halted = "ETHUSDT"
        url = f"{m.replay.ws_url}/stream?streams=!ticker_1h@arr"
        async with websockets.connect(url, close_timeout=0.5, max_queue=None) as ws:
            before = await _pushes(ws, 2, "!ticker_1h@arr")
            status, _ = await m.send("PUT", f"/_replay/symbols/{halted}", {"status": "HALT"})
            assert status == 200
            await _pushes(ws, 1, "!ticker_1h@arr")  # may still hold its last trades
            after = await _pushes(ws, 3, "!ticker_1h@arr")
        return before + after, halted, m.replay.server.market.stats()["symbols"]

    pushes, halted, stats = run_market(scenario, market=300, top_rate=300.0)
    times = [t for t, _ in pushes]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.5 < gap < 2.5 for gap in gaps[:1] + gaps[2:]), gaps
    last_seen: dict[str, int] = {}
    for _, entries in pushes:
        assert entries and all(list(e) == ENTRY_KEYS for e in entries)
        for entry in entries:
            assert entry["e"] == "1hTicker" and entry["O"] % 60_000 == 0
            assert 3_600_000 <= entry["C"] - entry["O"] < 3_660_000 and entry["E"] >= entry["C"]
            assert entry["n"] == entry["L"] - entry["F"] + 1 and entry["F"] >= 1000
            assert entry["L"] <= stats[entry["s"]]["last_trade_id"]
            # only symbols that changed: a symbol comes again only with a later last trade id
            assert entry["L"] > last_seen.get(entry["s"], -1), entry
            last_seen[entry["s"]] = entry["L"]
    assert len(last_seen) > 20
    assert all(e["s"] != halted for _, entries in pushes[-3:] for e in entries)


def test_the_retired_ticker_arr_is_acked_and_silent_and_microseconds_are_honoured() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, list[Any], Any]:
        async with websockets.connect(f"{m.replay.ws_url}/ws", close_timeout=0.5) as retired:
            ack = await _control(retired, "SUBSCRIBE", ["!ticker@arr"], 1)
            silent: list[Any] = []
            url = f"{m.replay.ws_url}/ws/!ticker_4h@arr?timeUnit=MICROSECOND"
            async with websockets.connect(url, close_timeout=0.5) as micros:
                async with asyncio.timeout(10):
                    pushed = json.loads(await micros.recv())
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    silent.append(await retired.recv())
        return ack, silent, pushed

    ack, silent, pushed = run_market(scenario, market=50, top_rate=300.0)
    assert ack == {"result": None, "id": 1} and silent == []
    assert isinstance(pushed, list) and pushed[0]["e"] == "4hTicker"
    entry = pushed[0]
    assert entry["E"] > 10**15 and entry["O"] > 10**15 and entry["O"] % 60_000_000 == 0


def test_thousands_of_streams_subscribe_within_binances_limits() -> None:
    async def scenario(m: MarketClient) -> dict[str, Any]:
        names = [f"{s}@trade" for s in m.replay.server.listings.specs]
        names = [n.lower() for n in names][:1100]
        out: dict[str, Any] = {}
        async with websockets.connect(
            f"{m.replay.ws_url}/stream", close_timeout=0.5, max_queue=None
        ) as ws:
            replies = []
            chunks = subscribe_batches(names[:1024], 4088)
            for n, chunk in enumerate(chunks):
                replies.append(await _control(ws, "SUBSCRIBE", chunk, n))
                await asyncio.sleep(0.25)  # within 5 messages a second
            out["chunks"] = len(chunks)
            out["replies"] = replies
            out["over"] = await _control(ws, "SUBSCRIBE", names[1024:1030], 100)
            await asyncio.sleep(0.25)
            listed = (await _control(ws, "LIST_SUBSCRIPTIONS", None, 101))["result"]
            out["listed"] = listed
            await asyncio.sleep(0.25)
            out["unsub"] = await _control(ws, "UNSUBSCRIBE", names[:200], 102)
            await asyncio.sleep(0.25)
            out["after"] = (await _control(ws, "LIST_SUBSCRIPTIONS", None, 103))["result"]
            await asyncio.sleep(0.25)
            big = subscribe_batches(names[:400], 1 << 20)[0]
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": big, "id": 104}))
            await asyncio.sleep(0.25)
            out["small"] = await _control(ws, "LIST_SUBSCRIPTIONS", None, 105)
            streams = set()
            async with asyncio.timeout(20):
                while len(streams) < 5:
                    message = json.loads(await ws.recv())
                    if "stream" in message:
                        streams.add(message["stream"])
            out["streams"] = streams
        return out

    got = run_market(scenario, market=1500, top_rate=300.0)
    assert got["chunks"] >= 5
    assert all(r == {"result": None, "id": n} for n, r in enumerate(got["replies"]))
    assert got["over"] == {
        "error": {"code": 2, "msg": "Invalid request: too many streams"},
        "id": 100,
    }
    assert len(got["listed"]) == 1024
    assert got["unsub"] == {"result": None, "id": 102} and len(got["after"]) == 824
    # the oversized SUBSCRIBE got no answer at all; the next message did
    assert got["small"]["id"] == 105 and len(got["small"]["result"]) == 824
    assert got["streams"] <= set(got["after"])
