"""The control API under ``/_replay/``: stats, faults, the symbol list and REST accounting."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from tickvault_replay.faults import Delist, FaultError, ListSymbol, parse_script
from tickvault_replay.server import ReplayServer


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json"
    )


async def stats(request: web.Request, server: ReplayServer) -> web.Response:
    """GET /_replay/stats."""
    return _json(server.market.stats())


async def post_faults(request: web.Request, server: ReplayServer) -> web.Response:
    """POST /_replay/faults: activate the faults in the body (fault-script JSON)."""
    try:
        faults = parse_script(await request.read())
    except FaultError as exc:
        return _json({"error": str(exc)}, 400)
    server.injector.load(faults)
    return _json({"loaded": len(faults)})


async def delete_faults(request: web.Request, server: ReplayServer) -> web.Response:
    """DELETE /_replay/faults: deactivate every fault."""
    server.injector.clear()
    return _json({"cleared": True})


def _symbol_view(server: ReplayServer, symbol: str) -> dict[str, Any]:
    item = server.listings.known(symbol)
    assert item is not None
    tape = server.store.ensure(symbol)
    return {
        "symbol": symbol,
        "status": item.status.value if item.listed else None,
        "listed": item.listed,
        "base": item.spec.base,
        "quote": item.spec.quote,
        "rate": item.rate,
        "first_trade_id": tape.first_id,
        "last_trade_id": tape.last_id,
        "next_trade_id": server.source.next_id(symbol),
    }


async def symbols(request: web.Request, server: ReplayServer) -> web.Response:
    """GET /_replay/symbols: every symbol ever listed, with its status and ids."""
    views = [_symbol_view(server, item.spec.symbol) for item in server.listings.everything()]
    return _json(
        {
            "symbols": views,
            "listed": len(server.listings),
            "trading": sum(1 for v in views if v["status"] == "TRADING"),
            "changes": server.listings.changes,
        }
    )


async def put_symbol(request: web.Request, server: ReplayServer) -> web.Response:
    """PUT /_replay/symbols/{symbol}: list it, or change its status (body: ``status``,
    ``rate``, ``first_id``, ``after_s``; all optional)."""
    raw = await request.read()
    fields: dict[str, Any] = {"type": "list", "symbol": request.match_info["symbol"]}
    try:
        extra = msgspec.json.decode(raw) if raw.strip() else {}
        if not isinstance(extra, dict):
            raise FaultError("the body must be a JSON object")
        event = msgspec.convert(extra | fields, ListSymbol)
    except (msgspec.DecodeError, RecursionError, FaultError) as exc:
        return _json({"error": str(exc)}, 400)
    return _listing(server, event)


async def delete_symbol(request: web.Request, server: ReplayServer) -> web.Response:
    """DELETE /_replay/symbols/{symbol}[?after_s=S]: delist it."""
    after = request.query.get("after_s")
    try:
        event = msgspec.convert(
            {"type": "delist", "symbol": request.match_info["symbol"], "after_s": after},
            Delist,
            strict=False,
        )
    except msgspec.ValidationError as exc:
        return _json({"error": str(exc)}, 400)
    return _listing(server, event)


def _listing(server: ReplayServer, event: ListSymbol | Delist) -> web.Response:
    if event.after_s is not None:
        server.injector.load([event])
        return _json({"symbol": event.symbol, "scheduled_in_s": event.after_s})
    problem = server.apply_listing(event)
    if problem is not None:
        return _json({"error": problem}, 404)
    return _json(_symbol_view(server, event.symbol))


async def rest_report(request: web.Request, server: ReplayServer) -> web.Response:
    """GET /_replay/rest: weight per minute (current, peak, mean), statuses, endpoints."""
    return _json(server.ledger.report(time.time()))


async def rest_reset(request: web.Request, server: ReplayServer) -> web.Response:
    """DELETE /_replay/rest: start counting afresh (the weight limit's state is kept)."""
    server.ledger.reset()
    return _json({"reset": True})
