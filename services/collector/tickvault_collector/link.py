"""One open WebSocket of a connection: the socket, its reader and sender tasks, the
(un)subscriptions it still has to send, and its close.

A :class:`~tickvault_collector.dialer.Dialer` opens the socket; the
:class:`~tickvault_collector.connection.ConnectionRunner` builds the :class:`Link` around it,
runs its tasks and learns from them what happened to it (:class:`LinkEvent`).
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

CLOSE_TIMEOUT_S = 1.0  # a closing handshake behind a backlog of unread frames never completes


class WatchedConnection(ClientConnection):
    """A client connection that remembers when bytes (frames or pings) last arrived."""

    last_bytes: float = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_bytes = self.loop.time()
        super().data_received(data)


class LinkEvent(enum.Enum):
    """What a link tells its runner."""

    READY = "ready"  # every stream it opened with is subscribed
    ROTATE = "rotate"  # its lifetime is up, or the server is shutting down
    CLOSED = "closed"  # it ended (the reason travels with the event)


class Link:
    """One open WebSocket, the task reading it and the control messages it still has to send."""

    def __init__(self, ws: WatchedConnection, number: int, rotate_at: float) -> None:
        self.ws = ws
        self.number = number
        self.rotate_at = rotate_at
        self.ready = False
        self.paused = False  # the reader waits for the publisher: silence is ours, not theirs
        self.task: asyncio.Task[None] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.outbox: deque[tuple[str, list[str]]] = deque()  # (method, streams) to send
        self.wake = asyncio.Event()
        self.opening: set[int] = set()  # ids of the SUBSCRIBEs it opened with, not yet acked

    def send(self, method: str, streams: list[str]) -> None:
        """Queue (un)subscribing *streams*."""
        if streams:
            self.outbox.append((method, streams))
            self.wake.set()

    async def close(self) -> None:
        """Close the link within about ``CLOSE_TIMEOUT_S`` and end its reader.

        A cancel of the caller is never swallowed here: the reader is awaited with
        ``asyncio.wait`` (not by catching CancelledError, which would also catch ours).
        """
        if self.sender is not None:
            self.sender.cancel()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S + 0.5):
                await self.ws.close()
        except (TimeoutError, OSError, WebSocketException):
            self.ws.transport.abort()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
            await asyncio.wait([self.task])
