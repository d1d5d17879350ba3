"""One client's WebSocket connection as the market sees it: subscriptions and a send buffer.

Data frames bypass aiohttp's per-message writer: the market appends pre-built frames to
``pending`` and :meth:`Session.flush` hands them to the transport in one write. Control
frames (ping, pong, close) still go through aiohttp, which writes them synchronously too, so
frames never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from tickvault_replay.encode import ws_frame

log = logging.getLogger(__name__)


class Session:
    """A subscriber: its streams, payload shape, send buffer and liveness state."""

    __slots__ = (
        "closing",
        "combined",
        "lifetime_handle",
        "micros",
        "opened",
        "peer",
        "pending",
        "ping_payloads",
        "pinged_at",
        "silent",
        "streams",
        "transport",
        "variant",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        peer: str,
        *,
        combined: bool,
        micros: bool,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.peer = peer
        self.streams: dict[str, None] = {}
        self.combined = combined
        self.micros = micros
        self.variant = (2 if micros else 0) | (1 if combined else 0)
        self.pending: list[bytes] = []
        self.silent = False
        self.closing = False
        self.opened = time.monotonic()
        self.pinged_at: float | None = None
        self.ping_payloads: set[bytes] = set()
        self.lifetime_handle: asyncio.TimerHandle | None = None

    def set_combined(self, flag: bool) -> None:
        """Switch the combined-stream wrapper on or off."""
        self.combined = flag
        self.variant = (2 if self.micros else 0) | (1 if flag else 0)

    @property
    def alive(self) -> bool:
        """Return whether frames can still be written."""
        return not self.closing and not self.transport.is_closing()

    def flush(self) -> None:
        """Write every pending frame in one transport write."""
        pending = self.pending
        if not pending:
            return
        data = b"".join(pending) if len(pending) > 1 else pending[0]
        pending.clear()
        if self.alive:
            self.transport.write(data)

    def send_now(self, frame: bytes) -> None:
        """Write one complete frame at once (after anything pending)."""
        self.flush()
        if self.alive and not self.silent:
            self.transport.write(frame)

    def send_text(self, payload: bytes) -> None:
        """Write one text message at once, even while silent (control responses)."""
        self.flush()
        if self.alive:
            self.transport.write(ws_frame(payload))

    def buffered(self) -> int:
        """Return how many bytes wait in the transport's write buffer."""
        return self.transport.get_write_buffer_size()

    def abort(self) -> None:
        """Drop the TCP connection with no close frame: the client sees 1006."""
        self.flush()
        self.closing = True
        self.transport.abort()

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame with *code* and finish the closing handshake."""
        if self.closing:
            return
        self.flush()
        self.closing = True
        log.info("closing %s: %d %s", self.peer, code, reason)
        try:
            await self.ws.close(code=code, message=reason.encode())
        except (ConnectionError, RuntimeError):  # the peer went first
            self.transport.abort()
