"""The all-market REST endpoints of a synthetic market, against Binance's documented bodies:
exchangeInfo with statuses, ticker/24hr with lastId, weights, and the weight accounting."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from tests.support.replay_market import MarketClient, run_market

from tickvault_replay import Limits

pytestmark = pytest.mark.unit


def test_exchange_info_lists_the_whole_universe_with_statuses() -> None:
    async def scenario(m: MarketClient) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["all"] = await m.get("/api/v3/exchangeInfo")
        out["one"] = await m.get("/api/v3/exchangeInfo", symbol="ETHUSDT")
        out["two"] = await m.get("/api/v3/exchangeInfo", symbols='["BTCUSDT","ETHBTC"]')
        out["trading"] = await m.get("/api/v3/exchangeInfo", symbolStatus="TRADING")
        out["break"] = await m.get("/api/v3/exchangeInfo", symbolStatus="BREAK")
        out["unknown"] = await m.get("/api/v3/exchangeInfo", symbol="NOPEUSDT")
        out["unknown_in_list"] = await m.get("/api/v3/exchangeInfo", symbols='["BTCUSDT","NO"]')
        out["mixed"] = await m.get("/api/v3/exchangeInfo", symbol="BTCUSDT", symbolStatus="TRADING")
        out["bad_status"] = await m.get("/api/v3/exchangeInfo", symbolStatus="SLEEPING")
        return out

    got = run_market(scenario, market=400)
    status, body, headers = got["all"]
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "20"
    symbols = body["symbols"]
    assert len(symbols) == 400 and symbols[0]["symbol"] == "BTCUSDT"
    assert {s["status"] for s in symbols} == {"TRADING", "BREAK"}
    assert symbols[0]["filters"][0]["filterType"] == "PRICE_FILTER"
    assert body["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    assert [s["symbol"] for s in got["one"][1]["symbols"]] == ["ETHUSDT"]
    assert [s["symbol"] for s in got["two"][1]["symbols"]] == ["BTCUSDT", "ETHBTC"]
    trading = [s["symbol"] for s in got["trading"][1]["symbols"]]
    breaking = [s["symbol"] for s in got["break"][1]["symbols"]]
    assert sorted(trading + breaking) == sorted(s["symbol"] for s in symbols)
    assert all(s["status"] == "BREAK" for s in got["break"][1]["symbols"])
    assert got["unknown"][:2] == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert got["unknown_in_list"][:2] == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert got["mixed"][0] == 400 and got["mixed"][1]["code"] == -1128
    assert got["bad_status"][:2] == (400, {"code": -1122, "msg": "Invalid symbolStatus."})


FULL_KEYS = [
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
    "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
    "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
    "lastId", "count",
]  # fmt: skip


def test_ticker_24hr_without_a_symbol_carries_every_last_id_at_weight_80() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, ...]:
        market = m.replay.server.market
        await m.wait_for(lambda: market.stats()["symbols"]["ETHUSDT"]["trades_available"] > 50)
        status, rows, headers = await m.get("/api/v3/ticker/24hr")
        stats = market.stats()["symbols"]
        _, trading, _ = await m.get("/api/v3/ticker/24hr", symbolStatus="TRADING")
        _, last, _ = await m.get(
            "/api/v3/historicalTrades", symbol="ETHUSDT", limit="1", fromId=str(rows[1]["lastId"])
        )
        return status, rows, headers, stats, trading, last

    status, rows, headers, stats, trading, last = run_market(scenario, market=300, top_rate=400.0)
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "80"
    assert len(rows) == 300 and all(list(r) == FULL_KEYS for r in rows)
    for row in rows:
        tape = stats[row["symbol"]]
        if row["count"]:
            assert (
                tape["first_trade_id"] <= row["firstId"] <= row["lastId"] <= tape["last_trade_id"]
            )
            assert row["count"] == row["lastId"] - row["firstId"] + 1
        else:
            assert (row["firstId"], row["lastId"]) == (-1, -1)
    assert rows[0]["symbol"] == "BTCUSDT" and rows[0]["count"] > 0
    assert last[0]["id"] == rows[1]["lastId"]
    every = {r["symbol"] for r in rows}
    assert len(trading) < len(rows) and all(r["symbol"] in every for r in trading)


def test_ticker_24hr_forms_weights_and_errors_follow_binance() -> None:
    async def scenario(m: MarketClient) -> list[Any]:
        names = [s["symbol"] for s in (await m.get("/api/v3/exchangeInfo"))[1]["symbols"]]
        _, info, headers = await m.get("/api/v3/exchangeInfo", symbolStatus="BREAK")
        breaking = info["symbols"][0]["symbol"]
        out: list[Any] = [(200, None, int(headers["X-MBX-USED-WEIGHT-1M"]))]
        for params in [
            {"symbol": "BTCUSDT"},
            {"symbols": json.dumps(names[:20])},
            {"symbols": json.dumps(names[:21])},
            {"symbols": json.dumps(names[:101])},
            {"symbol": "BTCUSDT", "type": "MINI"},
            {"symbol": breaking, "symbolStatus": "TRADING"},
            {"symbols": json.dumps([names[0], breaking]), "symbolStatus": "TRADING"},
            {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'},
            {"symbols": '["BTCUSDT","BTCUSDT"]'},
            {"symbols": "[BTCUSDT"},
            {"symbol": "btcusdt"},
            {"symbol": "BTCUSDT", "type": "HUGE"},
        ]:
            status, body, headers = await m.get("/api/v3/ticker/24hr", **params)
            out.append((status, body, int(headers["X-MBX-USED-WEIGHT-1M"])))
        return out

    got = run_market(scenario, market=200)
    weights = [w for _, _, w in got]
    got = got[1:]
    assert [b - a for a, b in itertools.pairwise(weights)][:4] == [2, 2, 40, 80]
    assert isinstance(got[0][1], dict) and got[0][1]["symbol"] == "BTCUSDT"
    assert len(got[1][1]) == 20 and len(got[3][1]) == 101
    assert list(got[4][1]) == [
        "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
        "openTime", "closeTime", "firstId", "lastId", "count",
    ]  # fmt: skip
    assert got[5][:2] == (
        400,
        {"code": -1220, "msg": "The symbol's status does not match the requested symbolStatus."},
    )
    assert [r["symbol"] for r in got[6][1]] == ["BTCUSDT"]
    assert [(s, b["code"]) for s, b, _ in got[7:]] == [
        (400, -1128),
        (400, -1151),
        (400, -1100),
        (400, -1100),
        (400, -1100),
    ]


def test_weight_accounting_reports_minutes_statuses_and_endpoints() -> None:
    async def scenario(m: MarketClient) -> tuple[Any, Any]:
        for _ in range(3):
            await m.get("/api/v3/ticker/24hr")  # 80 each
        await m.get("/api/v3/exchangeInfo")  # 20
        await m.get("/api/v3/trades", symbol="BTCUSDT", limit="1")  # 25: over 270 -> 429
        await m.get("/api/v3/trades", symbol="BTCUSDT", limit="1")  # during the wait -> 418
        await m.get("/api/v3/nothing")
        status, report = await m.send("GET", "/_replay/rest")
        assert status == 200
        await m.send("DELETE", "/_replay/rest")
        return report, (await m.send("GET", "/_replay/rest"))[1]

    report, after = run_market(scenario, limits=Limits(rest_weight_limit=270, rest_window_s=3600))
    ip = report["ips"]["127.0.0.1"]
    assert (ip["current"], ip["peak"], ip["mean"], ip["windows"]) == (285, 285, 285.0, 1)
    assert ip["minutes"][0][1] == 285
    assert report["weight"]["peak"] == 285
    assert report["statuses"] == {"200": 4, "404": 1, "418": 1, "429": 1}
    assert report["rate_limited"] == {"429": 1, "418": 1}
    assert report["endpoints"]["/api/v3/ticker/24hr"] == {"requests": 3, "weight": 240}
    assert report["endpoints"]["/api/v3/trades"] == {"requests": 2, "weight": 25}
    assert report["endpoints"]["(unknown)"] == {"requests": 1, "weight": 0}
    assert report["limit"] == 270
    assert after["statuses"] == {} and after["ips"] == {}


def test_bans_grow_longer_for_repeat_offenders() -> None:
    async def scenario(m: MarketClient) -> list[tuple[int, str | None]]:
        out = []
        for _ in range(4):
            status, _, headers = await m.get("/api/v3/exchangeInfo")
            out.append((status, headers.get("Retry-After")))
        book = m.replay.server.weights
        book._ips["127.0.0.1"].banned_until = 0  # the first ban is over
        for _ in range(1):
            status, _, headers = await m.get("/api/v3/exchangeInfo")
            out.append((status, headers.get("Retry-After")))
        return out

    got = run_market(scenario, limits=Limits(rest_weight_limit=30, rest_window_s=3600, ban_s=120))
    assert [s for s, _ in got] == [200, 429, 418, 418, 418]
    assert got[2][1] == "120" and got[4][1] == "240"
