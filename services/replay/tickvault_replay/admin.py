"""The control API under ``/_replay/``: stats, and faults posted at run time."""

from __future__ import annotations

import orjson
from aiohttp import web

from tickvault_replay.faults import FaultError, parse_script
from tickvault_replay.server import ReplayServer


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def stats(request: web.Request, server: ReplayServer) -> web.Response:
    """GET /_replay/stats."""
    return _json(server.market.stats())


async def post_faults(request: web.Request, server: ReplayServer) -> web.Response:
    """POST /_replay/faults: activate the faults in the body (fault-script JSON)."""
    try:
        faults = parse_script(await request.read())
    except FaultError as exc:
        return _json({"error": str(exc)}, 400)
    server.market.injector.load(faults)
    return _json({"loaded": len(faults)})


async def delete_faults(request: web.Request, server: ReplayServer) -> web.Response:
    """DELETE /_replay/faults: deactivate every fault."""
    server.market.injector.clear()
    return _json({"cleared": True})
