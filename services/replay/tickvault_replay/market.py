"""One market, one clock: releases events in time order to every subscribed connection.

The pump asks its source when the next event is due. At ``speed > 0`` an event is due at
``origin + (event time - origin time) / speed``, and a recording's clock starts when its
first client subscribes (``--start-now`` starts it at launch); at ``speed 0`` the pump runs
as fast as the slowest subscriber drains (and waits while nobody is subscribed). Releasing a
trade puts it on the REST tape first, then appends the shared pre-encoded frame to each
subscriber's buffer; buffers are flushed once per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tickvault_replay.config import ReplayConfig
from tickvault_replay.disconnect import Disconnector
from tickvault_replay.encode import event_frame
from tickvault_replay.faults import ConnFault
from tickvault_replay.injector import FaultInjector
from tickvault_replay.malformed import malformed_frame
from tickvault_replay.model import Event
from tickvault_replay.session import Session
from tickvault_replay.sources import Source
from tickvault_replay.store import TradeStore

log = logging.getLogger(__name__)

_BATCH = 1024
_HIGH_WATER = 1 << 20
_SLOW_CLIENT = 64 << 20
_IDLE_S = 0.05  # an endless source with nothing scheduled (every symbol halted) looks again
_MIN_SLEEP_S = 0.002  # events due within this are released together: fewer wake-ups


class Market:
    """The shared market: sessions, subscriptions, clock, REST tapes and fault hooks."""

    def __init__(
        self,
        config: ReplayConfig,
        source: Source,
        *,
        symbols: list[str],
        streams: set[str],
        store: TradeStore,
        injector: FaultInjector,
    ) -> None:
        self.symbols = symbols
        self.streams = streams
        self.speed = config.speed
        # a recording's clock starts at its first subscription, unless --start-now
        self.hold_until_subscribed = bool(config.recordings) and not config.start_now
        self.store = store
        self.finite = source.finite
        self.finished = False
        self.sessions: dict[Session, None] = {}
        self.injector = injector
        self.disconnector = Disconnector(config.limits.lifetime_s, lambda: self.clock_us() // 1000)
        self._source = source
        self._subs: dict[str, set[Session]] = {}
        self._dirty: list[Session] = []
        self._frames_sent = dict.fromkeys(symbols, 0)
        self._wake = asyncio.Event()
        self._last_us = source.origin_us() or 0  # a synthetic market's clock starts at once
        self._origin: tuple[float, int] | None = None
        self._listeners = False
        for symbol in symbols:
            store.ensure(symbol)

    # ------------------------------------------------------------ symbols and sessions
    def add_symbol(self, symbol: str, streams: list[str]) -> None:
        """Make a symbol (listed at run time) and its streams known to the market."""
        if symbol not in self._frames_sent:
            self.symbols.append(symbol)
            self._frames_sent[symbol] = 0
            self.store.ensure(symbol)
        self.streams.update(streams)
        self._listeners = self._listening()

    def attach(self, session: Session) -> None:
        """Register a new connection (and start its lifetime)."""
        self.sessions[session] = None
        self.disconnector.schedule(session)

    def detach(self, session: Session) -> None:
        """Forget a closed connection."""
        self.sessions.pop(session, None)
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

    def subscribers(self, name: str) -> set[Session]:
        """Return the connections subscribed to stream *name*."""
        return self._subs.get(name) or set()

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
        source = self._source
        first = source.next_time()
        if first is None and source.finite:
            return
        if self.speed > 0 and self.hold_until_subscribed:
            # A recording starts when its first listener subscribes, so no one misses its start.
            await self._until_listening()
        origin = source.origin_us()
        if origin is not None:  # a synthetic market runs on the wall clock from its start
            self._last_us = origin
        self._origin = (time.monotonic(), origin if origin is not None else first or 0)
        batch = 0
        while True:
            due = source.next_time()
            if due is None:
                if source.finite:
                    return
                self._flush()
                batch = 0
                await asyncio.sleep(_IDLE_S)
                continue
            if self.speed > 0:
                wall, start = self._origin
                delay = wall + (due - start) / 1e6 / self.speed - time.monotonic()
                if delay > _MIN_SLEEP_S or batch >= _BATCH:
                    self._flush()
                    batch = 0
                    await asyncio.sleep(min(max(delay, 0), 0.25))
                    continue
            elif batch >= _BATCH or not self._listeners:
                self._flush()
                batch = 0
                await self._backpressure()
                continue
            for event in source.take():
                self._release(event)
                batch += 1

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
            store = self.store
            store.add_trade(store.ensure(event.symbol), trade)
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
        elif event.stream.endswith("@bookTicker"):
            self.store.ensure(event.symbol).book = event.payload
        if subs:
            self._deliver(event, subs)

    def publish(self, stream: str, payload: bytes) -> None:
        """Send a market-wide event (an ``!…@arr`` array) to its subscribers now."""
        subs = self._subs.get(stream)
        if subs:
            self._deliver(Event(self.clock_us(), stream, "", payload), subs)
            self._flush()

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
        """Apply a connection fault to the connections it selects (default: all)."""
        self._flush()
        chosen = list(self.sessions)
        if fault.stream is not None:
            chosen = [s for s in chosen if fault.stream in s.streams]
        if fault.connection is not None:
            index = fault.connection
            chosen = [chosen[index]] if -len(chosen) <= index < len(chosen) else []
        name = type(fault).__name__
        log.info("%s on %d of %d connections", name, len(chosen), len(self.sessions))
        self.disconnector.apply(fault, chosen)

    def set_lifetime(self, seconds: float) -> None:
        """Set the connection lifetime (0 = unlimited) for open and future connections."""
        self.disconnector.set_lifetime(seconds, self.sessions)

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
