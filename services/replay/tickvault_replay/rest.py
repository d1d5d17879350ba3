"""The ``/api/v3`` routes: scripted errors, weights and headers around the pure queries."""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from tickvault_replay.queries import ENDPOINTS, ApiError, Context
from tickvault_replay.server import ReplayServer

_UNKNOWN = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
_SERVER_ERROR = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}


def _json(body: object, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


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
    """Answer one ``/api/v3/...`` request as Binance would."""
    path = request.path
    endpoint = ENDPOINTS.get(path)
    if endpoint is None:
        return _json(_UNKNOWN, 404, {})
    handler, weight = endpoint
    if path == "/api/v3/ticker/price" and "symbol" not in request.query:
        weight = 4
    scripted = server.market.injector.take_rest(path)
    verdict = server.weights.charge(request.remote or "unknown", weight, time.time())
    headers = {"X-MBX-USED-WEIGHT-1M": str(verdict.used), "X-MBX-USED-WEIGHT": str(verdict.used)}
    if scripted is not None:
        if scripted.status in (418, 429):
            headers["Retry-After"] = str(scripted.retry_after)
            body = {"code": -1003, "msg": _weight_message(server, scripted.status == 418)}
            return _json(body, scripted.status, headers)
        return _json(_SERVER_ERROR, scripted.status, headers)
    if verdict.status != 200:
        headers["Retry-After"] = str(verdict.retry_after)
        body = {"code": -1003, "msg": _weight_message(server, verdict.status == 418)}
        return _json(body, verdict.status, headers)
    micros = request.headers.get("X-MBX-TIME-UNIT", "").upper() == "MICROSECOND"
    ctx = Context(server.store, server.specs, micros, int(time.time() * 1000))
    try:
        body = handler(request.query, ctx)
    except ApiError as exc:
        return _json({"code": exc.code, "msg": exc.msg}, exc.status, headers)
    return _json(body, 200, headers)
