"""Opening one WebSocket to Binance: within the shared attempt budget, retried until it opens.

A :class:`Dialer` waits while the connection-attempt budget
(:class:`~tickvault_collector.ws_limits.ConnectBudget`, shared by every connection) is spent,
then tries the bare combined endpoint. A handshake refused with 429 or 418 waits as
``Retry-After`` says (twice as long after a ban, which Binance lengthens on a repeat); one
refused with another status waits the longest backoff; an unreachable exchange is retried with
capped, jittered backoff and said once until a socket opens. Every failed attempt is reported
with its reason (``reconnected``); the backoff starts again once a link is ready
(:meth:`Dialer.connected`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from tickvault_collector.link import CLOSE_TIMEOUT_S, WatchedConnection
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.ws_limits import ConnectBudget, combined_url

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Dialer:
    """Opens the sockets of one connection (named *name* in the logs)."""

    name: str
    settings: CollectorSettings
    budget: ConnectBudget
    reconnected: Callable[[str], None]  # counts a failed attempt by its reason

    def __post_init__(self) -> None:
        self._url = combined_url(self.settings.binance_ws_url)
        self._retry = self.settings.retry_policy()
        self._backoff = self._retry.backoff()
        self._warned_unreachable = False

    async def dial(self) -> WatchedConnection:
        """Return an open socket, waiting and retrying until one opens."""
        while True:
            wait = self.budget.wait(time.monotonic())
            if wait > 0:
                log.warning("%s: connection budget spent; waiting %.0fs", self.name, wait)
                await asyncio.sleep(wait)
                continue
            self.budget.spend(time.monotonic())
            try:
                ws = await connect(
                    self._url,
                    compression=None,
                    ping_interval=None,
                    max_queue=4096,
                    open_timeout=10,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=2**24,
                    create_connection=WatchedConnection,
                    proxy=None,
                )
            except InvalidStatus as exc:
                await asyncio.sleep(self._refused(exc))
                continue
            except (OSError, TimeoutError, WebSocketException) as exc:
                self._unreachable(exc)
                await asyncio.sleep(self._backoff.next())
                continue
            assert isinstance(ws, WatchedConnection)
            ws.last_bytes = ws.loop.time()
            self._warned_unreachable = False
            return ws

    def connected(self) -> None:
        """Start the backoff again: a link opened by this dialer is ready."""
        self._backoff.reset()

    def _refused(self, exc: InvalidStatus) -> float:
        status = exc.response.status_code
        if status in (429, 418):
            wait = self._retry.limited_wait(exc.response.headers.get("Retry-After"))
            wait *= 2 if status == 418 else 1  # a ban: Binance lengthens it on a repeat
            log.warning("%s: handshake refused with %d; backing off %.0fs", self.name, status, wait)
            self.reconnected(f"http_{status}")
            return wait
        log.error("%s: handshake refused with HTTP %d; retrying", self.name, status)
        self.reconnected(f"http_{status}")
        return max(self._backoff.next(), self.settings.collector_backoff_max_s)

    def _unreachable(self, exc: BaseException) -> None:
        if not self._warned_unreachable:
            log.warning(
                "%s: Binance is unreachable at %s (%s); retrying with backoff. "
                "Without internet access, run the offline replay with `make demo`.",
                self.name,
                self.settings.binance_ws_url,
                exc,
            )
            self._warned_unreachable = True
        self.reconnected("unreachable")
