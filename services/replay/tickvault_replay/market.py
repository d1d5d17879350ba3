"""One market, one clock: releases events in time order to every subscribed connection.

The pump walks the event source. At ``speed > 0`` an event is due at
``origin + (event time - first event time) / speed``, and a recording's clock starts when
its first client subscribes (``--start-now`` starts it at launch); at ``speed 0`` the pump
runs as fast as the slowest subscriber drains (and waits while nobody is subscribed).
Releasing a trade puts it on the REST tape first, then appends the shared pre-encoded frame
to each subscriber's buffer; buffers are flushed once per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

from tickvault_replay.encode import event_frame, shutdown_payload, ws_frame
from tickvault_replay.faults import AbruptClose, ConnFault, ServerShutdown, Silence
from tickvault_replay.injector import FaultInjector
from tickvault_replay.malformed import malformed_frame
from tickvault_replay.model import Event
from tickvault_replay.session import Session
from tickvault_replay.store import TradeStore

log = logging.getLogger(__name__)

_BATCH = 1024
_HIGH_WATER = 1 << 20
_SLOW_CLIENT = 64 << 20


class Market:
    """The shared market: sessions, subscriptions, clock, REST tapes and fault hooks."""

    def __init__(
        self,
        source: Iterator[Event],
        *,
        symbols: list[str],
        streams: set[str],
        speed: float,
        store: TradeStore,
        lifetime_s: float,
        finite: bool,
        hold_until_subscribed: bool = False,
    ) -> None:
        self.symbols = symbols
        self.hold_until_subscribed = hold_until_subscribed
        self.streams = streams
        self.speed = speed
        self.store = store
        self.finite = finite
        self.lifetime_s = lifetime_s
        self.finished = False
        self.sessions: set[Session] = set()
        self.injector = FaultInjector(self.apply_conn_fault, self.set_lifetime)
        self._source = source
        self._subs: dict[str, set[Session]] = {}
        self._dirty: list[Session] = []
        self._frames_sent = dict.fromkeys(symbols, 0)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_us = 0
        self._origin: tuple[float, int] | None = None
        self._listeners = False
        for symbol in symbols:
            store.ensure(symbol)

    # ------------------------------------------------------------ sessions
    def attach(self, session: Session) -> None:
        """Register a new connection (and start its lifetime)."""
        self.sessions.add(session)
        self._schedule_lifetime(session)

    def detach(self, session: Session) -> None:
        """Forget a closed connection."""
        self.sessions.discard(session)
        for name in session.streams:
            self._subs.get(name, set()).discard(session)
        if session.lifetime_handle is not None:
            session.lifetime_handle.cancel()
        self._listeners = self._listening()

    def subscribe(self, session: Session, names: list[str]) -> None:
        """Deliver *names* to *session* from the next event on."""
        for name in names:
            session.streams[name] = None
            self._subs.setdefault(name, set()).add(session)
        self._listeners = self._listening()
        self._wake.set()

    def unsubscribe(self, session: Session, names: list[str]) -> None:
        """Stop delivering *names* to *session*."""
        for name in names:
            session.streams.pop(name, None)
            self._subs.get(name, set()).discard(session)
        self._listeners = self._listening()

    def _listening(self) -> bool:
        return any(s for name, s in self._subs.items() if s and name in self.streams)

    # ------------------------------------------------------------ clock and pump
    def clock_us(self) -> int:
        """Return the replay clock in microseconds."""
        if self._origin is None or self.speed == 0 or self.finished:
            return self._last_us
        wall, first = self._origin
        return max(self._last_us, first + int((time.monotonic() - wall) * self.speed * 1e6))

    async def run(self) -> None:
        """Release every event of the source at the configured pace."""
        try:
            await self._pump()
        except Exception:
            log.exception("the market pump failed; no more events will be released")
            raise
        finally:
            self._flush()
        self.finished = self.finite
        log.info("market source exhausted; connections stay open")

    async def _pump(self) -> None:
        event = next(self._source, None)
        if event is None:
            return
        if self.speed > 0 and self.hold_until_subscribed:
            # A recording starts when its first listener subscribes, so no one misses its start.
            await self._until_listening()
        self._origin = (time.monotonic(), event.time_us)
        batch = 0
        while event is not None:
            if self.speed > 0:
                wall, first = self._origin
                delay = wall + (event.time_us - first) / 1e6 / self.speed - time.monotonic()
                if delay > 0 or batch >= _BATCH:
                    self._flush()
                    batch = 0
                    await asyncio.sleep(min(max(delay, 0), 0.25))
                    continue
            elif batch >= _BATCH or not self._listeners:
                self._flush()
                batch = 0
                await self._backpressure()
                continue
            self._release(event)
            batch += 1
            event = next(self._source, None)

    async def _until_listening(self) -> None:
        while not self._listeners:
            self._wake.clear()
            await self._wake.wait()

    async def _backpressure(self) -> None:
        await self._until_listening()
        while True:
            slow = [
                s
                for s in self.sessions
                if s.streams and s.alive and not s.silent and s.buffered() > _HIGH_WATER
            ]
            if not slow:
                break
            await asyncio.sleep(0.001)
        await asyncio.sleep(0)

    def _flush(self) -> None:
        for session in self._dirty:
            session.flush()
            if session.alive and session.buffered() > _SLOW_CLIENT and self.speed > 0:
                log.warning("dropping slow client %s", session.peer)
                session.abort()
        self._dirty.clear()

    def _release(self, event: Event) -> None:
        self._last_us = max(self._last_us, event.time_us)
        trade = event.trade
        subs = self._subs.get(event.stream)
        if trade is not None:
            self.store.ensure(event.symbol).add_trade(trade)
            injector = self.injector
            if injector.rules and subs and self._faulted(event, subs):
                subs = None
            if subs:
                self._frames_sent[event.symbol] = self._frames_sent.get(event.symbol, 0) + len(subs)
                self._deliver(event, subs)
            if injector.triggers:
                for fault in injector.fired(trade):
                    self.apply_conn_fault(fault)
            return
        if event.agg is not None:
            self.store.ensure(event.symbol).add_agg(event.agg)
        if subs:
            self._deliver(event, subs)

    def _deliver(self, event: Event, subs: set[Session]) -> None:
        frames = event.frames
        dirty = self._dirty
        for session in subs:
            if session.silent:
                continue
            frame = frames[session.variant] or event_frame(event, session.variant)
            pending = session.pending
            if not pending:
                dirty.append(session)
            pending.append(frame)

    def _faulted(self, event: Event, subs: set[Session]) -> bool:
        """Apply trade faults to *event*; return True when its normal delivery is replaced."""
        assert event.trade is not None
        action = self.injector.trade_action(event.trade)
        if action is None:
            return False
        for kind in action.malformed:
            for session in subs:
                if not session.pending:
                    self._dirty.append(session)
                session.pending.append(malformed_frame(kind, event, session.variant))
        if action.drop:
            return True
        copies = 1 + action.copies
        sent = len(subs) * copies
        self._frames_sent[event.symbol] = self._frames_sent.get(event.symbol, 0) + sent
        loop = asyncio.get_running_loop()
        for session in subs:
            frame = event_frame(event, session.variant)
            if action.delay_ms:
                for _ in range(copies):
                    loop.call_later(action.delay_ms / 1000, session.send_now, frame)
                continue
            if not session.pending:
                self._dirty.append(session)
            session.pending.extend([frame] * copies)
        return True

    # ------------------------------------------------------------ connection faults
    def apply_conn_fault(self, fault: ConnFault) -> None:
        """Apply a connection fault to every open connection."""
        self._flush()
        loop = asyncio.get_running_loop()
        for session in list(self.sessions):
            if isinstance(fault, AbruptClose):
                session.abort()
            elif isinstance(fault, Silence):
                session.silent = True
                if fault.seconds is not None:
                    loop.call_later(fault.seconds, setattr, session, "silent", False)
            elif isinstance(fault, ServerShutdown):
                payload = shutdown_payload(self.clock_us() // 1000, session.combined)
                session.send_now(ws_frame(payload))
                loop.call_later(
                    fault.close_after_s, self.close_later, session, 1001, "server shutdown"
                )

    def close_later(self, session: Session, code: int, reason: str) -> None:
        """Close *session* from a synchronous callback."""
        task = asyncio.get_running_loop().create_task(session.close(code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def set_lifetime(self, seconds: float) -> None:
        """Set the connection lifetime (0 = unlimited) for open and future connections."""
        self.lifetime_s = seconds
        for session in self.sessions:
            self._schedule_lifetime(session)

    def _schedule_lifetime(self, session: Session) -> None:
        if session.lifetime_handle is not None:
            session.lifetime_handle.cancel()
            session.lifetime_handle = None
        if self.lifetime_s > 0:
            loop = asyncio.get_running_loop()
            when = loop.time() + max(0.0, session.opened + self.lifetime_s - time.monotonic())
            session.lifetime_handle = loop.call_at(
                when, self.close_later, session, 1001, "going away"
            )

    # ------------------------------------------------------------ stats
    def stats(self) -> dict[str, Any]:
        """Return the ``/_replay/stats`` body."""
        symbols = {}
        for symbol in self.symbols:
            tape = self.store.ensure(symbol)
            symbols[symbol] = {
                "first_trade_id": tape.first_id,
                "last_trade_id": tape.last_id,
                "trades_available": tape.released,
                "frames_sent": self._frames_sent.get(symbol, 0),
            }
        return {
            "symbols": symbols,
            "finished": self.finished,
            "connections": len(self.sessions),
            "clock_ms": self.clock_us() // 1000,
        }
