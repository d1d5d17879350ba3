"""Listings, halts and delistings at run time, through the control API and fault scripts."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from tests.support.replay_market import MarketClient, run_market

from tickvault_replay.ids import clock_id, first_id_at

pytestmark = pytest.mark.unit


async def _info(m: MarketClient) -> dict[str, str]:
    _, body, _ = await m.get("/api/v3/exchangeInfo")
    return {s["symbol"]: s["status"] for s in body["symbols"]}


async def _trade_ids(ws: Any, count: int) -> list[int]:
    ids: list[int] = []
    async with asyncio.timeout(20):
        while len(ids) < count:
            ids.append(json.loads(await ws.recv())["t"])
    return ids


def test_a_new_listing_appears_as_trading_and_trades_from_its_first_id() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        before = await _info(m)
        url = f"{m.replay.ws_url}/ws/newcoinusdt@trade"
        async with websockets.connect(url, close_timeout=0.5) as ws:
            status, view = await m.send(
                "PUT", "/_replay/symbols/NEWCOINUSDT", {"first_id": 0, "rate": 40}
            )
            ids = await _trade_ids(ws, 30)
        after = await _info(m)
        _, rest, _ = await m.get("/api/v3/historicalTrades", symbol="NEWCOINUSDT", fromId="0")
        _, ticker, _ = await m.get("/api/v3/ticker/24hr", symbol="NEWCOINUSDT")
        return before, status, view, ids, after, rest, ticker

    before, status, view, ids, after, rest, ticker = run_market(scenario, market=40)
    assert "NEWCOINUSDT" not in before and after["NEWCOINUSDT"] == "TRADING"
    assert status == 200 and view["status"] == "TRADING" and view["next_trade_id"] >= 0
    assert (view["base"], view["quote"]) == ("NEWCOIN", "USDT")
    assert ids == list(range(30))
    assert [r["id"] for r in rest][:30] == ids
    assert ticker["firstId"] == 0 and ticker["lastId"] >= 29


def test_a_halt_stops_the_trades_shows_the_status_and_resuming_continues_the_ids() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        url = f"{m.replay.ws_url}/ws/btcusdt@trade"
        market = m.replay.server.market
        async with websockets.connect(url, close_timeout=0.5, max_queue=None) as ws:
            first = await _trade_ids(ws, 20)
            await m.send("PUT", "/_replay/symbols/BTCUSDT", {"status": "HALT"})
            halted_at = market.stats()["symbols"]["BTCUSDT"]["last_trade_id"]
            status_halted = (await _info(m))["BTCUSDT"]
            ids_during: list[int] = []
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.5):
                    while True:
                        ids_during.append(json.loads(await ws.recv())["t"])
            still = market.stats()["symbols"]["BTCUSDT"]["last_trade_id"]
            _, ticker, _ = await m.get("/api/v3/ticker/24hr", symbol="BTCUSDT")
            await m.send("PUT", "/_replay/symbols/BTCUSDT", {"status": "TRADING"})
            resumed = await _trade_ids(ws, 5)
        return first, halted_at, status_halted, ids_during, still, ticker, resumed

    first, halted_at, status, during, still, ticker, resumed = run_market(scenario, market=20)
    assert status == "HALT"
    assert all(i <= halted_at for i in during) and still == halted_at
    assert ticker["lastId"] == halted_at
    assert resumed[0] == halted_at + 1 and resumed == list(range(resumed[0], resumed[0] + 5))
    assert first == list(range(first[0], first[0] + 20))


def test_a_delisted_symbol_disappears_and_can_come_back_with_its_ids_continuing() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        market = m.replay.server.market
        await m.wait_for(lambda: bool(market.stats()["symbols"]["ETHUSDT"]["trades_available"]))
        status, _ = await m.send("DELETE", "/_replay/symbols/ETHUSDT")
        last = market.stats()["symbols"]["ETHUSDT"]["last_trade_id"]
        gone = await _info(m)
        rest = await m.get("/api/v3/trades", symbol="ETHUSDT")
        again = await m.send("DELETE", "/_replay/symbols/ETHUSDT")
        unknown = await m.send("PUT", "/_replay/symbols/ETHUSDT", {"status": "SLEEPING"})
        await m.send("PUT", "/_replay/symbols/ETHUSDT", {})
        back = await _info(m)
        await m.wait_for(lambda: market.stats()["symbols"]["ETHUSDT"]["last_trade_id"] > last)
        _, trades, _ = await m.get("/api/v3/historicalTrades", symbol="ETHUSDT", fromId=str(last))
        _, listing, _ = await m.get("/_replay/symbols")
        return status, last, gone, rest, again, unknown, back, trades, listing

    status, last, gone, rest, again, unknown, back, trades, listing = run_market(
        scenario, market=20, top_rate=400.0
    )
    assert status == 200 and "ETHUSDT" not in gone and len(gone) == 19
    assert rest[:2] == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert again == (404, {"error": "ETHUSDT is not listed"})
    assert unknown[0] == 400
    assert back["ETHUSDT"] == "TRADING"
    assert [t["id"] for t in trades][:2] == [last, last + 1]
    eth = next(s for s in listing["symbols"] if s["symbol"] == "ETHUSDT")
    assert eth["listed"] is True and listing["changes"] >= 22  # 20 listed at start + 2


def test_a_fault_script_changes_a_status_twice_within_one_refresh() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        script = {
            "faults": [
                {"type": "status", "symbol": "BNBUSDT", "status": "BREAK", "after_s": 0.3},
                {"type": "status", "symbol": "BNBUSDT", "status": "TRADING", "after_s": 0.9},
                {"type": "list", "symbol": "LATEUSDT", "after_s": 0.5, "first_id": 0},
                {"type": "delist", "symbol": "SOLUSDT", "after_s": 0.6},
            ]
        }
        status, loaded = await m.send("POST", "/_replay/faults", script)
        seen = []
        for _ in range(14):
            seen.append((await _info(m)).get("BNBUSDT"))
            await asyncio.sleep(0.1)
        return status, loaded, seen, await _info(m)

    status, loaded, seen, final = run_market(scenario, market=20)
    assert status == 200 and loaded == {"loaded": 4}
    assert seen[0] == "TRADING" and "BREAK" in seen and seen[-1] == "TRADING"
    assert final["LATEUSDT"] == "TRADING" and "SOLUSDT" not in final


def test_lower_case_and_unicode_names_can_be_listed_for_bad_input_tests() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        lower = await m.send("PUT", "/_replay/symbols/ethbtc", {"rate": 0})
        unicode = await m.send("PUT", "/_replay/symbols/这是测试币456", {"status": "BREAK"})
        bad = await m.send("PUT", "/_replay/symbols/A@B", {})
        info = await _info(m)
        rest = await m.get("/api/v3/trades", symbol="ethbtc")
        return lower, unicode, bad, info, rest

    lower, unicode, bad, info, rest = run_market(scenario, market=5)
    assert lower[0] == 200 and unicode[0] == 200 and bad[0] in (400, 404)
    assert info["ethbtc"] == "TRADING" and info["这是测试币456"] == "BREAK"
    assert rest[0] == 400 and rest[1]["code"] == -1100


def test_a_recording_lists_its_symbols_and_changes_only_their_status() -> None:
    from tests.support.paths import BTC_TRADES

    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        halt = await m.send("PUT", "/_replay/symbols/BTCUSDT", {"status": "HALT"})
        info = await _info(m)
        return halt, info

    halt, info = run_market(scenario, recordings=(str(BTC_TRADES),), speed=0.0)
    assert halt[0] == 200 and halt[1]["next_trade_id"] is None
    assert info == {"BTCUSDT": "HALT"}


def test_a_listing_loaded_at_start_trades_now_with_ids_from_the_clock(tmp_path: Path) -> None:
    script = tmp_path / "faults.json"
    script.write_text(json.dumps({"type": "list", "symbol": "EARLYUSDT", "rate": 50}))

    async def scenario(m: MarketClient) -> Any:
        market = m.replay.server.market
        await m.wait_for(lambda: market.stats()["symbols"]["EARLYUSDT"]["trades_available"] > 0)
        _, rows, _ = await m.get("/api/v3/trades", symbol="EARLYUSDT")
        return rows[0]

    started = time.time()
    first = run_market(scenario, market=5, first_id=None, faults_file=str(script))
    assert abs(first["time"] / 1000 - started) < 30
    assert first_id_at(int(started * 1e6)) <= first["id"] <= clock_id(first["time"] * 1000)
