"""The aiohttp application: routes, the market pump's lifecycle, and an in-process runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from tickvault_replay import admin, rest, ws_handler
from tickvault_replay.archive_http import serve_file
from tickvault_replay.config import ReplayConfig
from tickvault_replay.server import ReplayServer

log = logging.getLogger(__name__)

SERVER_KEY = web.AppKey("replay_server", ReplayServer)
_TASKS_KEY = web.AppKey("replay_tasks", list[asyncio.Task[None]])

Route = Callable[[web.Request, ReplayServer], Awaitable[web.StreamResponse]]


def _bind(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def view(request: web.Request) -> web.StreamResponse:
        return await route(request, request.app[SERVER_KEY])

    return view


async def _start(app: web.Application) -> None:
    server = app[SERVER_KEY]
    server.injector.load(server.initial_faults())
    loop = asyncio.get_running_loop()
    app[_TASKS_KEY] = [
        loop.create_task(server.market.run()),
        loop.create_task(server.tickers.run()),
    ]


async def _shutdown(app: web.Application) -> None:
    market = app[SERVER_KEY].market
    closing = [s.close(1001, "going away") for s in list(market.sessions)]
    if closing:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 3.0)
    for session in list(market.sessions):
        session.transport.abort()


async def _cleanup(app: web.Application) -> None:
    app[SERVER_KEY].archive.close()
    for task in app.get(_TASKS_KEY, []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _archive_file(request: web.Request, server: ReplayServer) -> web.StreamResponse:
    return await serve_file(request, server.archive, server.injector.archive)


def create_app(config: ReplayConfig, server: ReplayServer | None = None) -> web.Application:
    """Return the replay exchange as an aiohttp application (the market starts with it)."""
    app = web.Application()
    app[SERVER_KEY] = server or ReplayServer(config)
    ws = _bind(ws_handler.websocket)
    app.router.add_get("/ws", ws)
    app.router.add_get("/ws/{streams:.*}", ws)
    app.router.add_get("/stream", ws)
    app.router.add_get("/api/v3/{endpoint:.*}", _bind(rest.api))
    app.router.add_get(
        "/data/spot/{kind:daily|monthly}/trades/{symbol}/{name}", _bind(_archive_file)
    )
    app.router.add_get("/_replay/stats", _bind(admin.stats))
    app.router.add_post("/_replay/faults", _bind(admin.post_faults))
    app.router.add_delete("/_replay/faults", _bind(admin.delete_faults))
    app.router.add_get("/_replay/symbols", _bind(admin.symbols))
    app.router.add_put("/_replay/symbols/{symbol}", _bind(admin.put_symbol))
    app.router.add_delete("/_replay/symbols/{symbol}", _bind(admin.delete_symbol))
    app.router.add_get("/_replay/rest", _bind(admin.rest_report))
    app.router.add_delete("/_replay/rest", _bind(admin.rest_reset))
    app.on_startup.append(_start)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    return app


@dataclass(frozen=True, slots=True)
class RunningReplay:
    """A replay exchange serving on ``host:port``."""

    host: str
    port: int
    server: ReplayServer

    @property
    def ws_url(self) -> str:
        """Return the WebSocket base URL."""
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """Return the REST base URL."""
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def running_replay(config: ReplayConfig) -> AsyncIterator[RunningReplay]:
    """Serve the replay exchange in this event loop (``port=0`` picks a free port)."""
    server = ReplayServer(config)
    runner = web.AppRunner(
        create_app(config, server), handle_signals=False, access_log=None, shutdown_timeout=5.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port = int(runner.addresses[0][1])
        yield RunningReplay(config.host, port, server)
    finally:
        await runner.cleanup()
