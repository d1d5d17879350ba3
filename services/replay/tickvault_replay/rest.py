"""The ``/api/v3`` routes: weights, scripted answers and headers around the pure endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

from tickvault_replay import catalog, queries
from tickvault_replay.injector import Scripted
from tickvault_replay.malformed import malformed_body
from tickvault_replay.params import BinanceError, Context
from tickvault_replay.ratelimit import Verdict
from tickvault_replay.server import ReplayServer

_UNKNOWN = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
_SERVER_ERROR = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}

Handler = Callable[[Mapping[str, str], Context], Any]
Weight = Callable[[Mapping[str, str]], int]


def _fixed(weight: int) -> Weight:
    return lambda params: weight


ENDPOINTS: dict[str, tuple[Handler, Weight]] = {
    "/api/v3/ping": (lambda p, c: {}, _fixed(1)),
    "/api/v3/time": (lambda p, c: {"serverTime": c.now_ms}, _fixed(1)),
    "/api/v3/exchangeInfo": (catalog.exchange_info_body, _fixed(20)),
    "/api/v3/trades": (queries.recent_trades, _fixed(25)),
    "/api/v3/historicalTrades": (queries.historical_trades, _fixed(25)),
    "/api/v3/aggTrades": (queries.agg_trades, _fixed(4)),
    "/api/v3/klines": (queries.kline_rows, _fixed(2)),
    "/api/v3/ticker/price": (catalog.ticker_price, catalog.price_weight),
    "/api/v3/ticker/24hr": (catalog.ticker_24hr, catalog.ticker_24hr_weight),
}


def _json(body: object, status: int, headers: dict[str, str]) -> web.Response:
    return _raw(msgspec.json.encode(body), status, headers)


def _raw(body: bytes, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


def _weight_message(server: ReplayServer, banned: bool) -> str:
    if banned:
        until = int((time.time() + server.limits.ban_s) * 1000)
        return (
            f"Way too much request weight used; IP banned until {until}. Please use "
            "WebSocket Streams for live updates to avoid bans."
        )
    return (
        f"Too much request weight used; current limit is {server.limits.rest_weight_limit} "
        "request weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
        "avoid polling the API."
    )


async def api(request: web.Request, server: ReplayServer) -> web.Response:
    """Answer one ``/api/v3/...`` request as Binance would, and count it."""
    now = time.time()
    ip = request.remote or "unknown"
    endpoint = ENDPOINTS.get(request.path)
    if endpoint is None:
        server.ledger.record(ip, "(unknown)", 0, None, 404, now, False)
        return _json(_UNKNOWN, 404, {})
    weight = endpoint[1](request.query)
    scripted = server.market.injector.take_rest(request.path)
    verdict = server.weights.charge(ip, weight, now)
    response, limited = _respond(request, server, endpoint[0], scripted, verdict, now)
    charged = 0 if verdict.status == 418 else weight
    server.ledger.record(ip, request.path, charged, verdict.used, response.status, now, limited)
    return response


def _respond(
    request: web.Request,
    server: ReplayServer,
    handler: Handler,
    scripted: Scripted | None,
    verdict: Verdict,
    now: float,
) -> tuple[web.Response, bool]:
    """Return the answer, and whether the weight limit (not a script) refused the request."""
    headers = {"X-MBX-USED-WEIGHT-1M": str(verdict.used), "X-MBX-USED-WEIGHT": str(verdict.used)}
    if scripted is not None and scripted.malformed is None:
        if scripted.status in (418, 429):
            headers["Retry-After"] = str(scripted.retry_after)
            body = {"code": -1003, "msg": _weight_message(server, scripted.status == 418)}
            return _json(body, scripted.status, headers), False
        return _json(_SERVER_ERROR, scripted.status, headers), False
    if verdict.status != 200:
        headers["Retry-After"] = str(verdict.retry_after)
        body = {"code": -1003, "msg": _weight_message(server, verdict.status == 418)}
        return _json(body, verdict.status, headers), True
    micros = request.headers.get("X-MBX-TIME-UNIT", "").upper() == "MICROSECOND"
    clock_ms = server.market.clock_us() // 1000
    ctx = Context(
        server.store,
        server.listings,
        micros,
        int(now * 1000),
        clock_ms,
        server.archive.histories,
    )
    try:
        answer = handler(request.query, ctx)
    except BinanceError as exc:
        return _json({"code": exc.code, "msg": exc.msg}, exc.status, headers), False
    if scripted is not None and scripted.malformed is not None:
        return _raw(malformed_body(scripted.malformed, answer), 200, headers), False
    return _json(answer, 200, headers), False
