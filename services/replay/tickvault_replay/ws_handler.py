"""The WebSocket routes: handshake checks, the read loop (control messages, client rate,
pongs) and the heartbeat (a ping every ``ping_interval_s``, close without a pong in time)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from tickvault_replay.control import handle
from tickvault_replay.ratelimit import MessageRate
from tickvault_replay.session import Session
from tickvault_replay.streams import is_stream_name, parse_route

if TYPE_CHECKING:
    from tickvault_replay.server import ReplayServer

log = logging.getLogger(__name__)

_TOO_MANY = {
    "code": -1003,
    "msg": "Too many requests; please use the websocket for live updates to avoid bans.",
}


async def websocket(request: web.Request, server: ReplayServer) -> web.StreamResponse:
    """Upgrade to a market-stream connection and serve it until it closes."""
    route = parse_route(request.path, request.query)
    if route is None:
        raise web.HTTPNotFound()
    peer = request.remote or "unknown"
    refusal = server.market.injector.take_handshake()
    allowed = server.attempts.attempt(peer, time.monotonic())
    if refusal is not None or not allowed:
        retry = refusal.retry_after if refusal else int(server.limits.connect_window_s)
        return web.json_response(_TOO_MANY, status=429, headers={"Retry-After": str(retry)})
    ws = web.WebSocketResponse(
        autoping=False, compress=False, max_msg_size=1 << 16, timeout=2.0, decode_text=False
    )
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {"code": -1100, "msg": "Expected a WebSocket upgrade."}, status=400
        )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    session = Session(ws, transport, peer, combined=route.combined, micros=route.micros)
    market = server.market
    market.attach(session)
    limit = server.limits.max_streams or len(route.streams)
    market.subscribe(session, [s for s in route.streams if is_stream_name(s)][:limit])
    beat = asyncio.get_running_loop().create_task(_heartbeat(session, server))
    try:
        await _read(session, server)
    finally:
        beat.cancel()
        market.detach(session)
    return ws


async def _read(session: Session, server: ReplayServer) -> None:
    limits, market, ws = server.limits, server.market, session.ws
    rate = MessageRate(limits.ws_msg_rate)
    async for msg in ws:
        if not rate.hit(time.monotonic()):
            await session.close(1008, "Too many requests")
            return
        if session.silent:
            continue
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            if limits.max_message_bytes and len(msg.data) > limits.max_message_bytes:
                # Binance ignores such a message: no answer, no subscription (see config)
                log.info("ignoring a %d-byte message from %s", len(msg.data), session.peer)
                continue
            reply = handle(
                msg.data,
                session.streams,
                session.combined,
                max_streams=limits.max_streams,
                strict_ids=limits.strict_ids,
            )
            if reply.subscribe:
                market.subscribe(session, reply.subscribe)
            if reply.unsubscribe:
                market.unsubscribe(session, reply.unsubscribe)
            if reply.combined is not None:
                session.set_combined(reply.combined)
            session.send_text(reply.body)
        elif msg.type is WSMsgType.PING:
            session.flush()
            await ws.pong(msg.data)
        elif msg.type is WSMsgType.PONG:
            data = bytes(msg.data)
            if session.pinged_at is not None and (
                not limits.strict_pong or data in session.ping_payloads
            ):
                session.pinged_at = None
                session.ping_payloads.clear()


async def _heartbeat(session: Session, server: ReplayServer) -> None:
    limits = server.limits
    interval, timeout = limits.ping_interval_s, limits.pong_timeout_s
    if interval <= 0:
        return
    tick = max(0.02, min(interval, timeout or interval) / 4)
    next_ping = time.monotonic() + interval
    while session.alive:
        await asyncio.sleep(tick)
        now = time.monotonic()
        if session.silent:
            session.pinged_at, next_ping = None, now + interval
            continue
        if timeout and session.pinged_at is not None and now - session.pinged_at > timeout:
            await session.close(1008, "Pong timeout")
            return
        if now >= next_ping and session.alive:
            payload = os.urandom(8)
            session.flush()
            try:
                await session.ws.ping(payload)
            except ConnectionError:
                return
            session.ping_payloads.add(payload)
            if session.pinged_at is None:
                session.pinged_at = now
            next_ping = now + interval
