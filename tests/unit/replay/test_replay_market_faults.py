"""Faults at whole-market scale: malformed all-market answers, an empty universe, scattered
dropped frames that REST still serves, and one connection cut while the others live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from tests.support.replay_market import MarketClient, run_market
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.unit

INFO, TICKER = "/api/v3/exchangeInfo", "/api/v3/ticker/24hr"


def _malformed(kind: str, path: str, **extra: Any) -> list[tuple[int, bytes]]:
    async def scenario(m: MarketClient) -> list[tuple[int, bytes]]:
        fault = {"type": "rest_malformed", "kind": kind, "path": path, **extra}
        assert (await m.send("POST", "/_replay/faults", fault))[0] == 200
        other = await m.raw("/api/v3/ping")  # another path is untouched
        return [await m.raw(path), await m.raw(path), other]

    result: list[tuple[int, bytes]] = run_market(scenario, market=30)
    return result


@pytest.mark.parametrize("path", [INFO, TICKER])
def test_a_truncated_or_non_json_answer_comes_once_then_the_real_one(path: str) -> None:
    for kind in ("truncated", "not_json"):
        (status, bad), (_, good), (_, ping) = _malformed(kind, path)
        assert status == 200 and ping == b"{}"
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad)
        json.loads(good)


def test_wrong_types_and_missing_fields_spoil_every_third_entry_or_the_named_ones() -> None:
    (_, info), _, _ = _malformed("wrong_types", INFO)
    entries = json.loads(info)["symbols"]
    assert entries[0]["symbol"] is None and entries[0]["status"] is None
    assert isinstance(entries[1]["symbol"], str) and entries[1]["status"] == "TRADING"
    assert entries[3]["symbol"] is None and len(entries) == 30
    (_, ticker), _, _ = _malformed("missing_fields", TICKER, symbols=["ETHUSDT"])
    rows = {r["symbol"]: r for r in json.loads(ticker)}
    assert rows["ETHUSDT"] == {"symbol": "ETHUSDT"} and "lastId" in rows["BTCUSDT"]
    (_, typed), _, _ = _malformed("wrong_types", TICKER)
    row = json.loads(typed)[0]
    assert isinstance(row["lastId"], str) and isinstance(row["count"], str)
    assert isinstance(row["lastPrice"], float)


def test_an_empty_universe_is_an_exchange_info_without_symbols() -> None:
    (_, info), (_, good), _ = _malformed("empty", INFO)
    assert json.loads(info)["symbols"] == [] and "rateLimits" in json.loads(info)
    assert len(json.loads(good)["symbols"]) == 30
    (_, ticker), _, _ = _malformed("empty", TICKER)
    assert json.loads(ticker) == []


def test_scattered_drops_across_the_market_leave_gaps_that_rest_fills() -> None:
    async def scenario(m: MarketClient) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        symbols = list(m.replay.server.listings.specs)[:6]
        streams = "/".join(f"{s.lower()}@trade" for s in symbols)
        fault = {"type": "drop", "fraction": 0.1, "seed": 3}
        assert (await m.send("POST", "/_replay/faults", fault))[0] == 200
        seen: dict[str, list[int]] = {s: [] for s in symbols}
        url = f"{m.replay.ws_url}/stream?streams={streams}"
        async with websockets.connect(url, close_timeout=0.5, max_queue=None) as ws:
            async with asyncio.timeout(30):
                while len(seen["BTCUSDT"]) < 400:
                    data = json.loads(await ws.recv())["data"]
                    seen[data["s"]].append(data["t"])
        served = {}
        for symbol, ids in seen.items():
            if len(ids) > 1:
                _, rows, _ = await m.get(
                    "/api/v3/historicalTrades", symbol=symbol, fromId=str(ids[0]), limit="1000"
                )
                served[symbol] = [r["id"] for r in rows if r["id"] <= ids[-1]]
        return seen, served

    seen, served = run_market(scenario, market=50, top_rate=400.0)
    assert len(served) >= 3
    missing = 0
    for symbol, ids in served.items():
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # REST has every trade
        assert set(seen[symbol]) <= set(ids)
        missing += len(ids) - len(seen[symbol])
    total = sum(len(ids) for ids in served.values())
    assert 0.05 * total < missing < 0.15 * total


def test_one_connection_is_cut_and_the_others_keep_their_streams() -> None:
    async def scenario(m: MarketClient) -> int | None:
        base = m.replay.ws_url
        async with (
            websockets.connect(f"{base}/ws/btcusdt@trade", close_timeout=0.5) as first,
            websockets.connect(f"{base}/ws/ethusdt@trade", close_timeout=0.5) as second,
            websockets.connect(f"{base}/ws/btcusdt@trade", close_timeout=0.5) as third,
        ):
            for ws in (first, second, third):
                async with asyncio.timeout(10):
                    await ws.recv()
            cut = {"type": "abrupt_close", "stream": "ethusdt@trade"}
            assert (await m.send("POST", "/_replay/faults", cut))[0] == 200
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await second.recv()
            cut_by_index = {"type": "abrupt_close", "connection": -1}
            assert (await m.send("POST", "/_replay/faults", cut_by_index))[0] == 200
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        await third.recv()
            async with asyncio.timeout(10):
                for _ in range(5):  # the first connection still delivers
                    await first.recv()
            await m.wait_for(lambda: len(m.replay.server.market.sessions) == 1)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert run_market(scenario, market=10, top_rate=400.0) is None  # no close frame: 1006
