"""Server-Sent Events: one event per new latest price, relayed from Redis pub/sub.

Each connection first gets the current latest price of every symbol asked for, then every
message the writer publishes on :attr:`~tickvault.keys.RedisKeys.latest_channel`. A
connection is closed after ``TICKVAULT_API_STREAM_MAX_SECONDS`` (browsers reconnect by
themselves) so that long-lived streams cannot pin every worker thread forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
import redis
from flask import Response, stream_with_context
from flask_smorest import Blueprint

from tickvault.keys import RedisKeys
from tickvault_api import schemas
from tickvault_api.context import ApiContext
from tickvault_api.errors import Unavailable
from tickvault_api.latest import read_latest
from tickvault_api.params import parse_symbol
from tickvault_api.shapes import latest_body

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0


def sse_event(data: bytes, event: str = "price") -> bytes:
    """Encode one Server-Sent Event."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def parse_symbols(raw: str | None, tracked: tuple[str, ...]) -> tuple[str, ...]:
    """Return the tracked symbols named in a comma-separated list (all when empty)."""
    if raw is None or not raw.strip():
        return tracked
    names = [part for part in raw.split(",") if part.strip()]
    return tuple(dict.fromkeys(parse_symbol(name, tracked) for name in names)) or tracked


def make_blueprint(ctx: ApiContext) -> Blueprint:
    """Return the blueprint of the live stream."""
    blp = Blueprint("stream", __name__, url_prefix="/api/v1", description="Live prices (SSE)")
    keys = RedisKeys(ctx.settings.redis_prefix)

    @blp.route("/stream")
    @blp.arguments(schemas.StreamQuery, location="query", error_status_code=400)
    @blp.doc(
        responses={
            "200": {
                "description": "an endless text/event-stream of `price` events",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    )
    @blp.alt_response(400, schema=schemas.ErrorBody)
    @blp.alt_response(404, schema=schemas.ErrorBody)
    @blp.alt_response(503, schema=schemas.ErrorBody)
    def stream(args: dict[str, Any]) -> Response:
        """Server-Sent Events: one `price` event per new latest price."""
        wanted = parse_symbols(args.get("symbols"), ctx.tracked)
        snapshot = read_latest(ctx, wanted)
        try:
            pubsub = ctx.stores.redis.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(keys.latest_channel)
        except redis.RedisError as exc:
            raise Unavailable(f"Redis cannot answer right now ({type(exc).__name__})") from exc
        now = ctx.clock_us()
        first = [
            sse_event(orjson.dumps(latest_body(p, now))) for p in snapshot.values() if p is not None
        ]
        body = _relay(pubsub, set(wanted), first, ctx.settings.api_stream_max_seconds)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return Response(stream_with_context(body), mimetype="text/event-stream", headers=headers)

    return blp


def _relay(
    pubsub: Any, wanted: set[str], first: list[bytes], max_seconds: float
) -> Iterator[bytes]:
    """Yield the snapshot, then every wanted message, until the time is up or Redis fails."""
    try:
        yield b"retry: 2000\n\n"
        yield from first
        deadline = time.monotonic() + max_seconds
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield b": keepalive\n\n"
                continue
            data = message.get("data")
            if not isinstance(data, bytes | str):
                continue
            try:
                symbol = orjson.loads(data).get("symbol")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if symbol in wanted:
                quiet_since = time.monotonic()
                yield sse_event(data if isinstance(data, bytes) else data.encode())
    except redis.RedisError as exc:
        log.warning("live stream ended: Redis failed (%s)", type(exc).__name__)
        yield sse_event(b'{"code": "unavailable"}', event="error")
    finally:
        pubsub.close()
