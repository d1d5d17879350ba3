"""WebSocket connections: open, subscribe, read, watch, rotate, reconnect.

A :class:`ConnectionRunner` keeps one live :class:`Link` carrying a set of streams that can grow
and shrink while it runs (:meth:`ConnectionRunner.subscribe`, :meth:`ConnectionRunner.unsubscribe`).
A link opens on the bare combined endpoint and subscribes its streams with SUBSCRIBE messages
(:func:`~tickvault_collector.ws_limits.subscription_messages`), sent by the link's own sender at
most ``CONTROL_PER_S`` a second; it is *ready* once the exchange has acknowledged every
stream it opened with. Each frame goes to the runner's :class:`LinkOwner` (the collector).

A link ends on a close (any reason), a silent socket (no bytes at all, not even a ping, for
``silence_timeout``) or an error. Before its lifetime runs out, and at once on
``serverShutdown``, the runner opens a successor (make-before-break) and closes the old link
only once the successor is ready; trades seen on both are dropped as duplicates by the
sequencer. Every replacement is reported to the owner (``replaced``).

A socket is opened by the runner's :class:`~tickvault_collector.dialer.Dialer` (the attempt
budget, backoff, refused handshakes). The reconnect loop is written here rather than with
``async for ws in connect(...)``, because make-before-break needs two sockets at once and the
attempt budget spans every shard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Protocol

from websockets.exceptions import ConnectionClosed

from tickvault_collector.dialer import Dialer
from tickvault_collector.frames import ControlReply, ServerShutdown
from tickvault_collector.gaps.tails import FeedClock
from tickvault_collector.link import Link, LinkEvent
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.ws_limits import (
    CONTROL_PER_S,
    ConnectBudget,
    lifetime,
    subscription_messages,
)

log = logging.getLogger(__name__)


class LinkOwner(Protocol):
    """What a runner's links report to, and ask of, the collector."""

    def on_frame(
        self, frame: str | bytes, clock: FeedClock
    ) -> ServerShutdown | ControlReply | None:
        """Handle one frame; return it parsed when it is a shutdown or a control reply."""

    def replaced(self, runner: ConnectionRunner) -> None:
        """Say that *runner*'s connection was replaced (trades may have been missed)."""

    def reconnected(self, reason: str) -> None:
        """Count a reconnect and why."""

    def subscribed(self, method: str) -> None:
        """Count one SUBSCRIBE or UNSUBSCRIBE message sent."""

    def congested(self) -> bool:
        """Return whether readers should pause until :meth:`drained`."""

    async def drained(self) -> None:
        """Wait until readers may go on."""


class ConnectionRunner:
    """Keep one connection carrying a changing set of streams, for as long as it runs."""

    def __init__(
        self,
        name: str,
        streams: Iterable[str],
        settings: CollectorSettings,
        budget: ConnectBudget,
        owner: LinkOwner,
    ) -> None:
        self.name = name
        self.streams: dict[str, None] = dict.fromkeys(streams)  # in subscription order
        self.clock = FeedClock()
        self._s = settings
        self._dialer = Dialer(name, settings, budget, owner.reconnected)
        self._owner = owner
        self._events: asyncio.Queue[tuple[Link, LinkEvent, str]] = asyncio.Queue()
        self._count = 0
        self._next_id = 1
        self.active: Link | None = None
        self.successor: Link | None = None
        self.first_ready = asyncio.Event()  # set once a link has subscribed every stream

    def subscribe(self, streams: Iterable[str]) -> None:
        """Add *streams* (on the open links at once, on every later link from the start)."""
        new = [s for s in streams if s not in self.streams]
        self.streams.update(dict.fromkeys(new))
        for link in (self.active, self.successor):
            if link is not None:
                link.send("SUBSCRIBE", new)

    def unsubscribe(self, streams: Iterable[str]) -> None:
        """Remove *streams* from this connection."""
        gone = [s for s in streams if s in self.streams]
        for stream in gone:
            del self.streams[stream]
        for link in (self.active, self.successor):
            if link is not None:
                link.send("UNSUBSCRIBE", gone)

    async def run(self) -> None:
        """Connect and keep connected until cancelled."""
        try:
            self.active = await self._open("start")
            while True:
                await self._handle(*await self._events.get())
        finally:
            held = [link for link in (self.active, self.successor) if link is not None]
            if held:
                await asyncio.gather(*(link.close() for link in held))

    async def _handle(self, link: Link, event: LinkEvent, reason: str) -> None:
        owner = self._owner
        if event is LinkEvent.READY and link is self.successor and self.active is not None:
            old, self.active, self.successor = self.active, link, None
            log.info(
                "%s: link %d subscribed every stream and delivers; closing link %d",
                self.name,
                link.number,
                old.number,
            )
            await old.close()
            owner.replaced(self)
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
                owner.replaced(self)

    async def _open(self, why: str) -> Link:
        """Open (retrying until it opens) and start reading a new link."""
        ws = await self._dialer.dial()
        self._count += 1
        rotate_at = time.monotonic() + lifetime(
            self._s.collector_lifetime_s, self._s.collector_lifetime_jitter_s
        )
        link = Link(ws, self._count, rotate_at)
        link.send("SUBSCRIBE", list(self.streams))
        link.task = asyncio.create_task(self._read(link), name=f"{self.name}-link")
        link.sender = asyncio.create_task(self._send(link), name=f"{self.name}-send")
        log.info(
            "%s: link %d open (%s), %d streams", self.name, link.number, why, len(self.streams)
        )
        return link

    async def _send(self, link: Link) -> None:
        """Send the link's queued (un)subscriptions, at most ``CONTROL_PER_S`` a second."""
        opening = True
        gap = 1.0 / CONTROL_PER_S
        while True:
            while not link.outbox:
                if opening:
                    opening = False
                    self._opened(link)
                link.wake.clear()
                await link.wake.wait()
            method, streams = link.outbox.popleft()
            messages = subscription_messages(method, streams, self._next_id)
            self._next_id += len(messages)
            if opening:  # every id first: an early ack must not make the link ready
                link.opening.update(request_id for request_id, _, _ in messages)
            for _, body, _ in messages:
                try:
                    await link.ws.send(body.decode())
                except ConnectionClosed:
                    return  # the reader reports the close
                self._owner.subscribed(method)
                await asyncio.sleep(gap)

    def _opened(self, link: Link) -> None:
        """Everything the link opened with is sent; it is ready once all of it is acked."""
        if not link.opening and not link.ready:
            self._ready(link)

    def _ready(self, link: Link) -> None:
        link.ready = True
        self.first_ready.set()
        self._dialer.connected()
        self._events.put_nowait((link, LinkEvent.READY, ""))

    def _control(self, link: Link, reply: ServerShutdown | ControlReply) -> str | None:
        """Act on a shutdown or an acknowledgement; return "server_shutdown" for the former."""
        if isinstance(reply, ServerShutdown):
            log.info("%s: serverShutdown on link %d", self.name, link.number)
            self._events.put_nowait((link, LinkEvent.ROTATE, "server_shutdown"))
            return "server_shutdown"
        if isinstance(reply.request_id, int) and reply.request_id in link.opening:
            link.opening.discard(reply.request_id)
            if not link.opening and not link.outbox and not link.ready:
                self._ready(link)
        return None

    async def _read(self, link: Link) -> None:
        """Read frames until the link ends, then report why."""
        reason = "closed"
        watchdog = asyncio.create_task(self._watch(link))
        try:
            owner, clock = self._owner, self.clock
            handler, congested = owner.on_frame, owner.congested
            async for frame in link.ws:
                if congested():
                    link.paused = True
                    try:
                        await owner.drained()
                    finally:
                        link.paused = False
                        link.ws.last_bytes = link.ws.loop.time()
                special = handler(frame, clock)
                if special is not None:
                    reason = self._control(link, special) or reason
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
            if link.sender is not None:
                link.sender.cancel()
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
