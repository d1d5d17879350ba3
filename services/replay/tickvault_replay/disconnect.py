"""Ending connections on the exchange's terms: the lifetime cut and the connection faults.

A connection closes 1001 "going away" when its lifetime (Binance: 24 h) runs out; a fault
script can make the open connections (all, or the ones it selects) go silent, drop without a
close frame, or receive ``serverShutdown`` and then close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from tickvault_replay.encode import shutdown_payload, ws_frame
from tickvault_replay.faults import AbruptClose, ConnFault, ServerShutdown, Silence
from tickvault_replay.session import Session


class Disconnector:
    """The lifetime timers of the open connections and the connection faults."""

    def __init__(self, lifetime_s: float, clock_ms: Callable[[], int]) -> None:
        self.lifetime_s = lifetime_s
        self._clock_ms = clock_ms
        self._tasks: set[asyncio.Task[None]] = set()

    def apply(self, fault: ConnFault, sessions: Iterable[Session]) -> None:
        """Apply a connection fault to each of *sessions*."""
        loop = asyncio.get_running_loop()
        for session in list(sessions):
            if isinstance(fault, AbruptClose):
                session.abort()
            elif isinstance(fault, Silence):
                session.silent = True
                if fault.seconds is not None:
                    loop.call_later(fault.seconds, setattr, session, "silent", False)
            elif isinstance(fault, ServerShutdown):
                payload = shutdown_payload(self._clock_ms(), session.combined)
                session.send_now(ws_frame(payload))
                loop.call_later(
                    fault.close_after_s, self.close_later, session, 1001, "server shutdown"
                )

    def close_later(self, session: Session, code: int, reason: str) -> None:
        """Close *session* from a synchronous callback."""
        task = asyncio.get_running_loop().create_task(session.close(code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def set_lifetime(self, seconds: float, sessions: Iterable[Session]) -> None:
        """Set the lifetime (0 = unlimited) for *sessions* and every later connection."""
        self.lifetime_s = seconds
        for session in sessions:
            self.schedule(session)

    def schedule(self, session: Session) -> None:
        """(Re)start *session*'s lifetime timer from when it opened."""
        if session.lifetime_handle is not None:
            session.lifetime_handle.cancel()
            session.lifetime_handle = None
        if self.lifetime_s > 0:
            loop = asyncio.get_running_loop()
            when = loop.time() + max(0.0, session.opened + self.lifetime_s - time.monotonic())
            session.lifetime_handle = loop.call_at(
                when, self.close_later, session, 1001, "going away"
            )
