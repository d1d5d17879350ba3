"""WebSocket connections of one shard of symbols: open, read, watch, rotate, reconnect.

A :class:`ShardRunner` keeps one live :class:`Link` per shard. Each link reads frames and
hands them to its :class:`ShardOwner` (the collector). It ends on a close (any reason), a
silent socket (no bytes at all, not even a ping, for ``silence_timeout``) or an error.
Before its lifetime runs out, and at once on ``serverShutdown``, the runner opens a
successor (make-before-break) and closes the old link only once the successor delivers a
frame; trades seen on both are dropped as duplicates by the sequencer. Every replacement
calls the owner's ``replaced`` so the collector asks REST whether trades happened in between.

The reconnect loop is written here rather than with ``async for ws in connect(...)``,
because make-before-break needs two sockets at once and the attempt budget spans every shard.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from tickvault_collector.policy import ConnectBudget, lifetime, stream_url
from tickvault_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 1.0  # a closing handshake behind a backlog of unread frames never completes


class ShardOwner(Protocol):
    """What a shard's connections report to, and ask of, the collector."""

    def on_frame(self, frame: str | bytes) -> bool:
        """Handle one frame; return True when it announces a server shutdown."""

    def replaced(self, symbols: tuple[str, ...]) -> None:
        """Say that the shard's connection was replaced (trades may have been missed)."""

    def reconnected(self, reason: str) -> None:
        """Count a reconnect and why."""

    def congested(self) -> bool:
        """Return whether readers should pause until :meth:`drained`."""

    async def drained(self) -> None:
        """Wait until readers may go on."""


class LinkEvent(enum.Enum):
    """What a link tells its runner."""

    DELIVERED = "delivered"  # its first frame arrived
    ROTATE = "rotate"  # its lifetime is up, or the server is shutting down
    CLOSED = "closed"  # it ended (the reason travels with the event)


class _WatchedConnection(ClientConnection):
    """A client connection that remembers when bytes (frames or pings) last arrived."""

    last_bytes: float = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_bytes = self.loop.time()
        super().data_received(data)


class Link:
    """One open WebSocket and the task reading it."""

    def __init__(self, ws: _WatchedConnection, number: int, rotate_at: float) -> None:
        self.ws = ws
        self.number = number
        self.rotate_at = rotate_at
        self.delivered = False
        self.paused = False  # the reader waits for the publisher: silence is ours, not theirs
        self.task: asyncio.Task[None] | None = None


class ShardRunner:
    """Keep one shard of symbols connected, for as long as the collector runs."""

    def __init__(
        self,
        name: str,
        symbols: tuple[str, ...],
        settings: CollectorSettings,
        budget: ConnectBudget,
        owner: ShardOwner,
    ) -> None:
        self.name = name
        self.symbols = symbols
        self._s = settings
        self._url = stream_url(settings.binance_ws_url, symbols)
        self._budget = budget
        self._owner = owner
        self._events: asyncio.Queue[tuple[Link, LinkEvent, str]] = asyncio.Queue()
        self._retry = settings.retry_policy()
        self._backoff = self._retry.backoff()
        self._count = 0
        self._warned_unreachable = False
        self.active: Link | None = None
        self.successor: Link | None = None

    async def run(self) -> None:
        """Connect and keep connected until cancelled."""
        try:
            self.active = await self._open("start")
            while True:
                await self._handle(*await self._events.get())
        finally:
            held = [link for link in (self.active, self.successor) if link is not None]
            if held:
                await asyncio.gather(*(self._close(link) for link in held))

    async def _handle(self, link: Link, event: LinkEvent, reason: str) -> None:
        owner = self._owner
        if event is LinkEvent.DELIVERED and link is self.successor and self.active is not None:
            old, self.active, self.successor = self.active, link, None
            log.info("%s: link %d delivers; closing link %d", self.name, link.number, old.number)
            await self._close(old)
            owner.replaced(self.symbols)
        elif event is LinkEvent.ROTATE and link is self.active and self.successor is None:
            owner.reconnected("rotate")
            self.successor = await self._open("rotate")
        elif event is LinkEvent.CLOSED:
            if link is self.successor:
                self.successor = None
            elif link is self.active:
                owner.reconnected(reason)
                if self.successor is not None:
                    self.active, self.successor = self.successor, None
                else:
                    self.active = await self._open(reason)
                owner.replaced(self.symbols)

    async def _open(self, why: str) -> Link:
        """Open and start reading a new link, retrying with backoff until it works."""
        while True:
            wait = self._budget.wait(time.monotonic())
            if wait > 0:
                log.warning("%s: connection budget spent; waiting %.0fs", self.name, wait)
                await asyncio.sleep(wait)
                continue
            self._budget.spend(time.monotonic())
            try:
                ws = await connect(
                    self._url,
                    compression=None,
                    ping_interval=None,
                    max_queue=4096,
                    open_timeout=10,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=2**22,
                    create_connection=_WatchedConnection,
                    proxy=None,
                )
            except InvalidStatus as exc:
                await asyncio.sleep(self._refused(exc))
                continue
            except (OSError, TimeoutError, WebSocketException) as exc:
                self._unreachable(exc)
                await asyncio.sleep(self._backoff.next())
                continue
            assert isinstance(ws, _WatchedConnection)
            ws.last_bytes = ws.loop.time()
            self._count += 1
            rotate_at = time.monotonic() + lifetime(
                self._s.collector_lifetime_s, self._s.collector_lifetime_jitter_s
            )
            link = Link(ws, self._count, rotate_at)
            link.task = asyncio.create_task(self._read(link), name=f"{self.name}-link")
            log.info(
                "%s: link %d open (%s), %d streams", self.name, link.number, why, len(self.symbols)
            )
            self._warned_unreachable = False
            return link

    def _refused(self, exc: InvalidStatus) -> float:
        status = exc.response.status_code
        if status in (429, 418):
            wait = self._retry.limited_wait(exc.response.headers.get("Retry-After"))
            wait *= 2 if status == 418 else 1  # a ban: Binance lengthens it on a repeat
            log.warning("%s: handshake refused with %d; backing off %.0fs", self.name, status, wait)
            self._owner.reconnected(f"http_{status}")
            return wait
        log.error("%s: handshake refused with HTTP %d; retrying", self.name, status)
        self._owner.reconnected(f"http_{status}")
        return max(self._backoff.next(), self._s.collector_backoff_max_s)

    def _unreachable(self, exc: BaseException) -> None:
        if not self._warned_unreachable:
            log.warning(
                "%s: Binance is unreachable at %s (%s); retrying with backoff. "
                "Without internet access, run the offline replay with `make demo`.",
                self.name,
                self._s.binance_ws_url,
                exc,
            )
            self._warned_unreachable = True
        self._owner.reconnected("unreachable")

    async def _read(self, link: Link) -> None:
        """Read frames until the link ends, then report why."""
        reason = "closed"
        watchdog = asyncio.create_task(self._watch(link))
        try:
            owner = self._owner
            handler, congested = owner.on_frame, owner.congested
            async for frame in link.ws:
                if congested():
                    link.paused = True
                    try:
                        await owner.drained()
                    finally:
                        link.paused = False
                        link.ws.last_bytes = link.ws.loop.time()
                if handler(frame):
                    reason = "server_shutdown"
                    log.info("%s: serverShutdown on link %d", self.name, link.number)
                    self._events.put_nowait((link, LinkEvent.ROTATE, reason))
                if not link.delivered:
                    link.delivered = True
                    self._backoff.reset()
                    self._events.put_nowait((link, LinkEvent.DELIVERED, ""))
            code = link.ws.close_code
            reason = f"close_{code}" if code is not None else "closed"
        except ConnectionClosed as exc:
            reason = f"close_{exc.rcvd.code}" if exc.rcvd is not None else "abrupt"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = "error"
            log.warning("%s: link %d failed: %r", self.name, link.number, exc)
        finally:
            watchdog.cancel()
        if watchdog.done() and not watchdog.cancelled() and watchdog.result():
            reason = "silent"
        log.info("%s: link %d ended (%s)", self.name, link.number, reason)
        self._events.put_nowait((link, LinkEvent.CLOSED, reason))

    async def _watch(self, link: Link) -> bool:
        """Close a silent link; ask for rotation when its lifetime is up. True when silent."""
        timeout = self._s.collector_silence_timeout_s
        step = min(1.0, timeout / 4)
        rotated = False
        while True:
            await asyncio.sleep(step)
            if not link.paused and link.ws.loop.time() - link.ws.last_bytes > timeout:
                log.warning(
                    "%s: link %d silent for %.0fs; reconnecting", self.name, link.number, timeout
                )
                link.ws.transport.abort()
                return True
            if not rotated and time.monotonic() >= link.rotate_at:
                rotated = True
                log.info("%s: link %d reached its lifetime; rotating", self.name, link.number)
                self._events.put_nowait((link, LinkEvent.ROTATE, "lifetime"))

    async def _close(self, link: Link) -> None:
        """Close *link* within about ``CLOSE_TIMEOUT_S`` and end its reader.

        A cancel of the caller is never swallowed here: the reader is awaited with
        ``asyncio.wait`` (not by catching CancelledError, which would also catch ours).
        """
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S + 0.5):
                await link.ws.close()
        except (TimeoutError, OSError, WebSocketException):
            link.ws.transport.abort()
        if link.task is not None and link.task is not asyncio.current_task():
            link.task.cancel()
            await asyncio.wait([link.task])
