"""Server-Sent Events: the latest price of each symbol asked for, then one event per new one.

There is one way a stream is served: by ``tickvault-api``, whose Gunicorn gevent workers hand
the view the connection's non-blocking socket (:func:`~tickvault_api.limits.direct_socket`).
The view registers the client with the process's :class:`~tickvault_api.hub.PriceHub` (one
Redis subscription per process, fanned out) and returns a generator that yields the first
events through Gunicorn (which writes the status line, the headers and, for HTTP/1.1, the
first chunk). Then it attaches the stream to the hub, which writes each later batch of events
to the client's socket itself; the generator only wakes to drain what the socket could not
take at once, to send keep-alives and to end the stream. An idle stream costs a little memory
and no thread (each is a greenlet). A keep-alive comment goes out after ``KEEPALIVE_SECONDS``
of silence; the stream closes after ``TICKVAULT_API_STREAM_MAX_SECONDS`` (browsers reconnect
by themselves, after the ``retry`` delay). At most ``TICKVAULT_API_MAX_STREAMS`` streams per
process; the next one is answered 429. A server that gives the app no such socket (Flask's
own, a ``gthread`` worker) gets 503 ``unavailable``; a ``HEAD`` gets the headers alone.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from tickvault_api import schemas
from tickvault_api.deps import ApiDeps
from tickvault_api.errors import Unavailable, envelope
from tickvault_api.hub import PriceHub, StreamEnd, Subscriber, price_event, sse_event
from tickvault_api.limits import abort_connection, bound_writes, direct_socket
from tickvault_api.params import parse_symbol
from tickvault_api.tracked import Tracked

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b": keepalive\n\n"
RETRY = b"retry: 2000\n\n"
SLOW = sse_event(
    envelope("slow_client", "the stream was ended: it was read slower than prices arrived"),
    event="error",
)
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
NO_SOCKET = (
    "this server cannot hold live streams: they are served by tickvault-api "
    "(Gunicorn's gevent workers)"
)


def parse_symbols(raw: str | None, tracked: Tracked) -> tuple[str, ...] | None:
    """Return the tracked symbols named in a comma-separated list (None: every symbol)."""
    if raw is None or not raw.strip():
        return None
    names = [part for part in raw.split(",") if part.strip()]
    if not names:
        return None
    return tuple(dict.fromkeys(parse_symbol(name, tracked) for name in names))


def make_blueprint(ctx: ApiDeps) -> Blueprint:
    """Return the blueprint of the live stream."""
    blp = Blueprint("stream", __name__, url_prefix="/api/v1", description="Live prices (SSE)")

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
    @blp.alt_response(429, schema=schemas.ErrorBody)
    @blp.alt_response(503, schema=schemas.ErrorBody)
    def stream(args: dict[str, Any]) -> Response:
        """Server-Sent Events: each symbol's latest price, then a `price` event per new one."""
        tracked = ctx.tracked
        wanted = parse_symbols(args.get("symbols"), tracked)
        if request.method == "HEAD":
            return Response(b"", mimetype="text/event-stream", headers=HEADERS)
        environ = request.environ
        direct = direct_socket(environ)
        if direct is None:
            raise Unavailable(NO_SOCKET)
        slot = ctx.streams.acquire()
        try:
            sub, snapshot = ctx.hub.join(None if wanted is None else frozenset(wanted))
        except BaseException:
            slot.release()
            raise
        now = ctx.clock_us()
        order = tracked if wanted is None else wanted
        first = b"".join(price_event(p, now) for s in order if (p := snapshot.get(s)))
        bound_writes(environ)

        def done() -> None:  # idempotent; also runs when the body is never iterated
            ctx.hub.leave(sub)
            slot.release()

        max_seconds = ctx.settings.api_stream_max_seconds
        body = relay(ctx.hub, sub, first, max_seconds, done, environ, direct)
        response = Response(body, mimetype="text/event-stream", headers=HEADERS)
        response.call_on_close(done)
        return response

    return blp


def relay(
    hub: PriceHub,
    sub: Subscriber,
    first: bytes,
    max_seconds: float,
    done: Callable[[], None],
    environ: dict[str, Any],
    direct: tuple[socket.socket, bool],
) -> Iterator[bytes]:
    """Yield the first events, then let the hub write the others to the socket until the time
    is up; wake only to drain the backlog, send keep-alives, or end."""
    try:
        yield RETRY + first
        # Gunicorn wrote the first bytes and waits for the next: the socket is the hub's now
        deadline = time.monotonic() + max_seconds
        hub.attach(sub, *direct)
        while (now := time.monotonic()) < deadline and sub.ended is None:
            sub.wait(min(deadline - now, KEEPALIVE_SECONDS - (now - sub.written)))
            if sub.ended is not None:
                break
            if sub.backlogged:
                sub.drain()
            elif time.monotonic() - sub.written >= KEEPALIVE_SECONDS:
                sub.send(KEEPALIVE)
        if sub.ended is StreamEnd.SLOW:
            if not sub.farewell(SLOW):  # no room even for that: close the connection
                abort_connection(environ, "slow client")
        elif sub.ended is StreamEnd.GONE or sub.backlogged:
            # unwritable, or bytes (maybe half a chunk) still owed: close the connection
            abort_connection(environ, "the stream could not be written")
    finally:
        done()
