"""One Redis subscription per process, fanned out to every live-stream client of that process.

The writer publishes each new latest price (:func:`tickvault.codec.latest_message`) on
:attr:`~tickvault.keys.RedisKeys.latest_channel`. A :class:`PriceHub` runs one reader (a
thread; a greenlet under Gunicorn's gevent workers) that decodes each message once, renders
its Server-Sent Event once (:func:`tickvault.codec.latest_json`, the same body as REST) and
offers the same bytes to every :class:`Subscriber` that wants the symbol.

Each subscriber has a bounded buffer. A client that does not read fast enough fills it and
is dropped (counted in ``tickvault_api_streams_dropped_total``), so one slow client never
holds up the others or grows the process. The hub also keeps the latest price of every
symbol it has seen (seeded from Redis each time it subscribes): a new client's first events
come from there, taken in the same step as its registration, so it never sees a price older
than one it was already sent. When Redis fails the clients stay connected (keep-alives go
on); after the reader subscribes again it re-reads the latest prices and relays those that
moved meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple

import orjson
import redis

from tickvault.codec import LatestPrice, latest_from_message, latest_json
from tickvault.redisconn import REDIS_ERRORS, describe
from tickvault_api.errors import Unavailable

log = logging.getLogger(__name__)

READY_WAIT_SECONDS = 3.0  # how long a new client waits for the reader to subscribe
POLL_SECONDS = 1.0  # the reader's longest wait for a message (it checks for shutdown then)
IDLE_SECONDS = 30.0  # the reader stops after this long without a client
BACKOFF_SECONDS = (0.2, 10.0)  # first and longest pause between attempts to resubscribe


def sse_event(data: bytes, event: str = "price") -> bytes:
    """Encode one Server-Sent Event."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def price_event(price: LatestPrice, now_us: int) -> bytes:
    """Return the ``price`` event of a latest price (the REST body, aged at *now_us*)."""
    return sse_event(orjson.dumps(latest_json(price, now_us)))


class PriceEvent(NamedTuple):
    """One rendered price event, shared by every subscriber it is offered to."""

    symbol: str
    trade_id: int
    data: bytes


class StreamEnd(Enum):
    """Why the hub ended a subscriber."""

    SLOW = "slow_client"  # its buffer filled: it reads slower than prices arrive
    SHUTDOWN = "shutdown"  # the process is stopping


class Subscriber:
    """One client's bounded buffer of events, filled by the hub and drained by its response."""

    __slots__ = ("_limit", "_pending", "_wake", "ended", "symbols")

    def __init__(self, symbols: frozenset[str] | None, limit: int) -> None:
        self.symbols = symbols  # None: every symbol
        self.ended: StreamEnd | None = None
        self._limit = limit
        self._pending: deque[PriceEvent] = deque()
        self._wake = threading.Event()

    def offer(self, event: PriceEvent) -> bool:
        """Buffer *event*; return False (and keep nothing) when the buffer is full."""
        if len(self._pending) >= self._limit:
            return False
        self._pending.append(event)
        self._wake.set()
        return True

    def end(self, reason: StreamEnd) -> None:
        """Mark the subscriber ended and wake its response."""
        self.ended = reason
        self._wake.set()

    def take(self, timeout: float) -> list[PriceEvent]:
        """Wait up to *timeout* s for events (or the end) and return those buffered."""
        if not self._pending and self.ended is None:
            self._wake.wait(timeout)
        self._wake.clear()
        out = []
        pending = self._pending
        while pending:
            out.append(pending.popleft())
        return out


class _State(Enum):
    IDLE = "idle"  # no reader: nobody listens (yet, or for IDLE_SECONDS)
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"  # Redis failed; the reader retries with backoff
    STOPPED = "stopped"  # the process is shutting down


class PriceHub:
    """The live-price subscription of one process and the clients it serves.

    The reader starts with the first client and stops after ``IDLE_SECONDS`` without any, so a
    process that serves no stream holds no subscription.
    """

    def __init__(
        self,
        redis_client: Callable[[], Any],
        channel: str,
        seed: Callable[[], Mapping[str, LatestPrice | None]],
        *,
        buffer: int,
        metrics: Any,
        clock_us: Callable[[], int],
    ) -> None:
        self._redis_client = redis_client
        self._channel = channel
        self._seed = seed
        self._buffer = buffer
        self._metrics = metrics
        self._clock_us = clock_us
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state = _State.IDLE
        self._pid = os.getpid()
        self._joining = 0
        self._everything: set[Subscriber] = set()
        self._by_symbol: dict[str, set[Subscriber]] = {}
        self._latest: dict[str, LatestPrice] = {}
        self._alive: Callable[[], bool] = lambda: True

    # ------------------------------------------------------------------ clients

    def join(self, symbols: frozenset[str] | None) -> tuple[Subscriber, dict[str, LatestPrice]]:
        """Register a client; return it and the latest known price of each symbol it wants.

        Raise ``unavailable`` when the subscription cannot be made (Redis is down).
        """
        sub = Subscriber(symbols, self._buffer)
        with self._changed:
            self._joining += 1  # the reader does not go idle while a client is joining
            try:
                self._start_reader()
                self._changed.wait_for(
                    lambda: self._state is not _State.CONNECTING, timeout=READY_WAIT_SECONDS
                )
                if self._state is not _State.UP:
                    raise Unavailable(
                        "Redis cannot answer right now: the live prices are unavailable"
                    )
                if symbols is None:
                    self._everything.add(sub)
                    snapshot = dict(self._latest)
                else:
                    for symbol in symbols:
                        self._by_symbol.setdefault(symbol, set()).add(sub)
                    snapshot = {s: p for s in symbols if (p := self._latest.get(s)) is not None}
            finally:
                self._joining -= 1
        self._metrics.streams.inc()
        return sub, snapshot

    def leave(self, sub: Subscriber) -> None:
        """Forget a client (idempotent)."""
        with self._lock:
            if not self._forget(sub):
                return
        self._metrics.streams.dec()

    def _forget(self, sub: Subscriber) -> bool:
        """Remove *sub* from the index (the lock held); return whether it was there."""
        if sub.symbols is None:
            if sub not in self._everything:
                return False
            self._everything.discard(sub)
            return True
        found = False
        for symbol in sub.symbols:
            subs = self._by_symbol.get(symbol)
            if subs is not None and sub in subs:
                found = True
                subs.discard(sub)
                if not subs:
                    del self._by_symbol[symbol]
        return found

    def _idle(self) -> bool:
        """Return whether nobody listens or joins (the lock held)."""
        return not (self._everything or self._by_symbol or self._joining)

    # ------------------------------------------------------------------ lifecycle

    def stop_when(self, alive: Callable[[], bool]) -> None:
        """Stop (ending every client) once *alive()* turns false: the worker is shutting down."""
        self._alive = alive

    def stop(self) -> None:
        """End every client and the reader; later joins are ``unavailable``."""
        with self._lock:
            self._state = _State.STOPPED
            subs = [*self._everything, *(s for subs in self._by_symbol.values() for s in subs)]
            self._changed.notify_all()
        for sub in subs:
            sub.end(StreamEnd.SHUTDOWN)

    def _start_reader(self) -> None:
        """Start the reader when none runs in this process (the lock held)."""
        if self._pid != os.getpid():  # a forked child: nothing of the parent's is ours
            self._pid = os.getpid()
            self._state = _State.IDLE
            self._everything.clear()
            self._by_symbol.clear()
        if self._state is _State.IDLE:
            self._latest.clear()  # not listened to for a while: seeded again on subscribing
            self._state = _State.CONNECTING
            threading.Thread(target=self._run, name="tickvault-price-hub", daemon=True).start()

    def _set_state(self, state: _State) -> bool:
        """Move to *state*; return False when the process is stopping (the reader ends)."""
        if not self._alive():
            self.stop()
            return False
        with self._lock:
            if self._state is _State.STOPPED:
                return False
            self._state = state
            self._changed.notify_all()
            return True

    def _go_idle(self) -> bool:
        """Stop the reader when nobody listens; return whether it stopped."""
        with self._lock:
            if self._state is _State.STOPPED:
                return True
            if not self._idle():
                return False
            self._state = _State.IDLE
            self._changed.notify_all()
            return True

    # ------------------------------------------------------------------ the reader

    def _run(self) -> None:
        pause = BACKOFF_SECONDS[0]
        failing = False
        while True:
            pubsub = None
            try:
                pubsub = self._redis_client().pubsub()
                pubsub.subscribe(self._channel)
                self._wait_subscribed(pubsub)
                self._relay(self._seed().values())  # what moved while we were not listening
                if not self._set_state(_State.UP):
                    return
                if failing:
                    log.info("live prices: subscribed to Redis again")
                failing, pause = False, BACKOFF_SECONDS[0]
                self._listen(pubsub)
                return
            except Exception as exc:  # Redis down, or a bug: never leave the streams unserved
                if not self._set_state(_State.DOWN):
                    return
                if not isinstance(exc, (*REDIS_ERRORS, Unavailable)):
                    log.exception("live prices: the reader failed; starting it again")
                elif not failing:
                    log.warning(
                        "live prices: %s; retrying every %g s at most",
                        describe(exc) if isinstance(exc, REDIS_ERRORS) else exc,
                        BACKOFF_SECONDS[1],
                    )
                failing = True
                time.sleep(pause)
                pause = min(pause * 2, BACKOFF_SECONDS[1])
                if self._go_idle() or not self._set_state(_State.CONNECTING):
                    return
            finally:
                if pubsub is not None:
                    pubsub.close()

    def _wait_subscribed(self, pubsub: Any) -> None:
        deadline = time.monotonic() + READY_WAIT_SECONDS
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message is not None and message.get("type") == "subscribe":
                return
        raise redis.TimeoutError("no subscription confirmation")

    def _listen(self, pubsub: Any) -> None:
        """Relay messages until the process stops or nobody listens."""
        idle_since: float | None = None
        while self._state is not _State.STOPPED:
            if not self._alive():
                self.stop()
                break
            message = pubsub.get_message(timeout=POLL_SECONDS)
            if message is not None and message.get("type") == "message":
                price = latest_from_message(message["data"])
                if price is None:
                    self._metrics.unreadable_messages.inc()
                else:
                    self._relay((price,))
            with self._lock:
                idle = self._idle()
            if not idle:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= IDLE_SECONDS and self._go_idle():
                break

    def _relay(self, prices: Iterable[LatestPrice | None]) -> None:
        """Keep each price that moves a symbol forward and offer it to who wants it."""
        now = self._clock_us()
        slow: dict[Subscriber, None] = {}
        with self._lock:
            for price in prices:
                if price is None:
                    continue
                known = self._latest.get(price.symbol)
                if known is not None and known.trade_id >= price.trade_id:
                    continue
                self._latest[price.symbol] = price
                event = PriceEvent(price.symbol, price.trade_id, price_event(price, now))
                for sub in (*self._everything, *self._by_symbol.get(price.symbol, ())):
                    if sub not in slow and not sub.offer(event):
                        slow[sub] = None
            for sub in slow:
                self._forget(sub)
        for sub in slow:
            sub.end(StreamEnd.SLOW)
            self._metrics.streams.dec()
            self._metrics.streams_dropped.inc()
