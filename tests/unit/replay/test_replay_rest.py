"""The REST endpoints: the recorded trades in Binance's shape, errors, weights, time units."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from tests.support.paths import TRADE_RECORDINGS
from tests.support.recordings import all_recorded_trades

from tickvault_replay import Limits, ReplayConfig, RunningReplay, running_replay

pytestmark = pytest.mark.unit

Call = Callable[..., Awaitable[tuple[int, Any, dict[str, str]]]]


def _run(scenario: Callable[[Call], Awaitable[Any]], **kw: Any) -> Any:
    base: dict[str, Any] = {
        "recordings": tuple(str(p) for p in TRADE_RECORDINGS),
        "speed": 0.0,
        "port": 0,
    }
    base.update(kw)

    async def main() -> Any:
        async with running_replay(ReplayConfig(**base)) as replay:
            await _drain(replay)
            async with aiohttp.ClientSession() as http:

                async def call(
                    path: str, headers: dict[str, str] | None = None, **params: str
                ) -> tuple[int, Any, dict[str, str]]:
                    async with http.get(
                        replay.rest_url + path, params=params, headers=headers or {}
                    ) as resp:
                        return resp.status, await resp.json(), dict(resp.headers)

                return await scenario(call)

    return asyncio.run(main())


async def _drain(replay: RunningReplay) -> None:
    """Play the whole recording (speed 0 needs a subscriber) so every trade has happened."""
    market = replay.server.market
    import websockets

    async with (
        websockets.connect(f"{replay.ws_url}/ws/btcusdt@trade", max_queue=None, close_timeout=0.5),
        asyncio.timeout(60),
    ):
        while not market.finished:
            await asyncio.sleep(0.01)


def test_historical_trades_from_an_id_are_exactly_the_recorded_trades() -> None:
    recorded = all_recorded_trades()["BTCUSDT"]
    start = recorded[5000].trade_id

    async def scenario(call: Call) -> Any:
        return await call(
            "/api/v3/historicalTrades", symbol="BTCUSDT", fromId=str(start), limit="1000"
        )

    status, rows, headers = _run(scenario)
    assert status == 200
    assert headers["X-MBX-USED-WEIGHT-1M"] == "25"
    expected = recorded[5000:6000]
    assert [r["id"] for r in rows] == [t.trade_id for t in expected]
    for row, trade in zip(rows, expected, strict=True):
        assert list(row) == [
            "id",
            "price",
            "qty",
            "quoteQty",
            "time",
            "isBuyerMaker",
            "isBestMatch",
        ]
        assert (row["price"], row["qty"], row["time"], row["isBuyerMaker"]) == (
            trade.price,
            trade.quantity,
            trade.trade_time_ms,
            trade.is_buyer_maker,
        )
        assert Decimal(row["quoteQty"]) == Decimal(trade.price) * Decimal(trade.quantity)
        assert row["isBestMatch"] is True


def test_errors_use_binance_codes() -> None:
    async def scenario(call: Call) -> list[tuple[int, Any]]:
        out = []
        for path, params in [
            ("/api/v3/historicalTrades", {"symbol": "NOPEUSDT"}),
            ("/api/v3/trades", {}),
            ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}),
            ("/api/v3/trades", {"symbol": "BTCUSDT", "limit": "ten"}),
            ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "fromId": "1", "startTime": "1"}),
        ]:
            status, body, _ = await call(path, **params)
            out.append((status, body["code"]))
        return out

    assert _run(scenario) == [(400, -1121), (400, -1102), (400, -1120), (400, -1100), (400, -1128)]


def test_unknown_symbol_body_is_exactly_binances() -> None:
    async def scenario(call: Call) -> Any:
        return await call("/api/v3/historicalTrades", symbol="XYZUSDT", fromId="1")

    status, body, _ = _run(scenario)
    assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})


def test_recent_trades_aggtrades_klines_ticker_and_info_agree_with_the_recording() -> None:
    recorded = all_recorded_trades()["ETHUSDT"]

    async def scenario(call: Call) -> dict[str, Any]:
        out = {}
        for name, path, params in [
            ("trades", "/api/v3/trades", {"symbol": "ETHUSDT", "limit": "3"}),
            ("aggs", "/api/v3/aggTrades", {"symbol": "ETHUSDT", "limit": "1000"}),
            (
                "klines",
                "/api/v3/klines",
                {"symbol": "ETHUSDT", "interval": "1m", "startTime": "0", "limit": "1000"},
            ),
            ("price", "/api/v3/ticker/price", {"symbol": "ETHUSDT"}),
            ("info", "/api/v3/exchangeInfo", {"symbol": "ETHUSDT"}),
            ("time", "/api/v3/time", {}),
            ("ping", "/api/v3/ping", {}),
        ]:
            out[name] = (await call(path, **params))[1]
        out["micros"] = (
            await call(
                "/api/v3/trades", {"X-MBX-TIME-UNIT": "MICROSECOND"}, symbol="ETHUSDT", limit="1"
            )
        )[1]
        return out

    got = _run(scenario)
    assert [r["id"] for r in got["trades"]] == [t.trade_id for t in recorded[-3:]]
    assert got["micros"][0]["time"] == recorded[-1].trade_time_ms * 1000
    aggs = got["aggs"]
    assert all(b["a"] == a["a"] + 1 and b["f"] == a["l"] + 1 for a, b in itertools.pairwise(aggs))
    assert sum(k[8] for k in got["klines"]) == len(recorded)
    assert got["klines"][-1][4] == recorded[-1].price
    assert got["price"] == {"symbol": "ETHUSDT", "price": recorded[-1].price}
    symbol = got["info"]["symbols"][0]
    assert symbol["symbol"] == "ETHUSDT" and symbol["filters"][0]["tickSize"] == "0.01000000"
    assert got["time"]["serverTime"] > 1_700_000_000_000 and got["ping"] == {}


def test_weight_over_the_limit_is_429_with_retry_after_then_418() -> None:
    async def scenario(call: Call) -> list[tuple[int, str | None, str]]:
        out = []
        for _ in range(4):
            status, _, headers = await call("/api/v3/trades", symbol="BTCUSDT", limit="1")
            out.append((status, headers.get("Retry-After"), headers["X-MBX-USED-WEIGHT-1M"]))
        return out

    results = _run(scenario, limits=Limits(rest_weight_limit=50, rest_window_s=3600))
    assert [r[0] for r in results] == [200, 200, 429, 418]
    assert [r[2] for r in results[:3]] == ["25", "50", "75"]
    assert results[2][1] is not None and int(results[2][1]) > 0


def test_rest_never_serves_a_trade_before_it_happens() -> None:
    async def main() -> tuple[Any, Any]:
        config = ReplayConfig(recordings=(str(TRADE_RECORDINGS[0]),), speed=0.0, port=0)
        async with running_replay(config) as replay, aiohttp.ClientSession() as http:
            url = f"{replay.rest_url}/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1"
            async with http.get(url) as resp:
                rows = await resp.json()
            return rows, replay.server.market.stats()["symbols"]["BTCUSDT"]

    rows, stats = asyncio.run(main())
    assert rows == [] and stats["last_trade_id"] is None and stats["trades_available"] == 0
