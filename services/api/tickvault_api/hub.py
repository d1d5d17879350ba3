"""One Redis subscription per process, fanned out to every live-stream client of that process.

The writer publishes each new latest price (:func:`tickvault.codec.latest_message`) on
:attr:`~tickvault.keys.RedisKeys.latest_channel`. A :class:`PriceHub` runs one reader (a
thread; a greenlet under Gunicorn's gevent workers) that decodes each message once and keeps
the newest price of each symbol until the next flush. Flushes are at least ``interval``
seconds apart (``TICKVAULT_API_STREAM_INTERVAL_MS``): a price that comes when none went out
for that long is flushed at once; the prices that come sooner wait, together, for the end of
the interval. A flush renders each price's Server-Sent Event once
(:func:`tickvault.codec.latest_json`, the same body as REST) and hands every
:class:`Subscriber` the events of the symbols it wants, joined into one payload (built once
per distinct set of symbols): however many prices a burst brings, a client gets at most one
write per interval, and a lone price goes out without delay.

Each stream runs under Gunicorn's gevent workers (HTTP/1.x on a non-blocking socket:
:func:`tickvault_api.limits.direct_socket`). From its registration until its first bytes
went out the usual way, the events meant for it wait in its buffer; then the stream is
*attached*: the buffered events go out, and from then on the hub itself writes each payload
to the client's socket in turn, without blocking (framed as a chunk when the response is
chunked): one system call per client and flush, and no greenlet woken. Whatever the socket
does not take waits in the subscriber's backlog, which its own response drains when the
socket can take more.

The buffer is bounded (``TICKVAULT_API_STREAM_BUFFER`` events, or payloads in the
backlog). A client that does not read fast enough fills it and is dropped (counted in
``tickvault_api_streams_dropped_total``), so one slow client never holds up the others or
grows the process. The hub also keeps the latest price of every symbol it has flushed
(seeded from Redis each time it subscribes): a new client's first events come from there,
taken in the same step as its registration, so it never sees a price older than one it was
already sent. When Redis fails the clients stay connected (keep-alives go
on); after the reader subscribes again it re-reads the latest prices and relays those that
moved meanwhile.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple

import msgspec
import redis

from tickvault.codec import LatestPrice, latest_from_message, latest_json
from tickvault.redisconn import REDIS_ERRORS, describe
from tickvault.retry import RetryPolicy
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
    return sse_event(msgspec.json.encode(latest_json(price, now_us)))


class PriceEvent(NamedTuple):
    """One rendered price event, shared by every subscriber it is offered to."""

    symbol: str
    trade_id: int
    data: bytes


class StreamEnd(Enum):
    """Why a subscriber ended."""

    SLOW = "slow_client"  # its buffer filled: it reads slower than prices arrive
    SHUTDOWN = "shutdown"  # the process is stopping
    GONE = "gone"  # a write to its socket failed: the client went away


def chunk(data: bytes) -> bytes:
    """Frame *data* as one chunk of an HTTP/1.1 chunked body."""
    return b"%X\r\n%s\r\n" % (len(data), data)


class Subscriber:
    """One client's stream, fed by the hub.

    Until :meth:`attach` its events wait in a bounded buffer; once attached the hub writes
    them to its socket itself (:meth:`deliver`).
    """

    __slots__ = (
        "_backlog",
        "_chunked",
        "_fd",
        "_limit",
        "_partial",
        "_pending",
        "_sock",
        "_wake",
        "ended",
        "symbols",
        "written",
    )

    def __init__(self, symbols: frozenset[str] | None, limit: int) -> None:
        self.symbols = symbols  # None: every symbol
        self.ended: StreamEnd | None = None
        self.written = time.monotonic()  # when bytes last went to the socket (attached)
        self._limit = limit
        self._pending: deque[PriceEvent] = deque()
        self._wake = threading.Event()
        self._sock: socket.socket | None = None
        self._fd = -1
        self._chunked = False
        self._backlog: deque[bytes] = deque()  # frames the socket did not take yet
        self._partial = False  # the first frame of the backlog is partly written

    @property
    def attached(self) -> bool:
        """Whether the hub writes to this client's socket itself."""
        return self._sock is not None

    @property
    def backlogged(self) -> bool:
        """Whether bytes wait for the socket to take them."""
        return bool(self._backlog)

    @property
    def partial(self) -> bool:
        """Whether a frame was cut short: the body can only end by closing the connection."""
        return self._partial

    def offer(self, event: PriceEvent) -> bool:
        """Buffer *event* (not attached); return False (and keep nothing) when full."""
        if len(self._pending) >= self._limit:
            return False
        self._pending.append(event)
        return True

    def deliver(self, events: tuple[PriceEvent, ...], payload: Callable[[bool], bytes]) -> bool:
        """Hand *events* over; return False when the client is too far behind to keep.

        Attached, ``payload(chunked)`` is the events' bytes, framed, written at once.
        """
        if self.ended is not None:
            return True  # its response is ending; nothing more goes out
        if self._sock is None:
            return all(self.offer(e) for e in events)
        return self.send(payload(self._chunked), framed=True)

    def attach(self, sock: socket.socket, chunked: bool) -> None:
        """Write to *sock* from now on (non-blocking), the events buffered so far first."""
        self._sock, self._fd, self._chunked = sock, sock.fileno(), chunked
        pending, self._pending = self._pending, deque()
        if pending:
            self.send(b"".join(e.data for e in pending))

    def send(self, data: bytes, *, framed: bool = False) -> bool:
        """Write *data* to the attached socket without waiting; return False when too far behind.

        What the socket does not take goes to the backlog and the response is woken to
        drain it. A failed write ends the subscriber (``GONE``).
        """
        frame = data if framed or not self._chunked else chunk(data)
        if self._backlog:
            self._backlog.append(frame)
            return len(self._backlog) <= self._limit
        try:
            sent = os.write(self._fd, frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.end(StreamEnd.GONE)
            return True
        self.written = time.monotonic()
        if sent < len(frame):
            self._backlog.append(frame[sent:])
            self._partial = sent > 0
            self._wake.set()
        return True

    def drain(self) -> None:
        """Write the backlog, waiting for the socket as its timeout allows (the response's
        greenlet); a failed or timed-out write ends the subscriber (``GONE``)."""
        sock = self._sock
        assert sock is not None
        backlog = self._backlog
        while backlog and self.ended is None:
            head = backlog[0]
            try:
                sent = sock.send(head)
            except OSError:
                self.end(StreamEnd.GONE)
                return
            self.written = time.monotonic()
            if sent < len(head):
                backlog[0] = head[sent:]
                self._partial = True
            else:
                backlog.popleft()
                self._partial = False

    def farewell(self, data: bytes) -> bool:
        """Write *data* in place of the backlog if it fits now; return whether it went out."""
        if self._partial:
            return False
        self._backlog.clear()
        frame = chunk(data) if self._chunked else data
        try:
            return os.write(self._fd, frame) == len(frame)
        except OSError:
            return False

    def wait(self, timeout: float) -> None:
        """Wait up to *timeout* s for the hub to wake this subscriber (attached)."""
        if not self._backlog and self.ended is None:
            self._wake.wait(timeout)
        self._wake.clear()

    def end(self, reason: StreamEnd) -> None:
        """Mark the subscriber ended and wake its response."""
        self.ended = reason
        self._wake.set()


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
        interval: float = 0.0,
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
        self._staged: dict[str, LatestPrice] = {}  # read, not yet flushed to the clients
        self._interval = interval
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

    def attach(self, sub: Subscriber, sock: socket.socket, chunked: bool) -> None:
        """Have the hub write *sub*'s events to *sock* itself from now on."""
        with self._lock:
            sub.attach(sock, chunked)

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
            self._staged.clear()
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
        backoff = RetryPolicy(*BACKOFF_SECONDS).backoff()
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
                failing = False
                backoff.reset()
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
                time.sleep(backoff.next())
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
        due: float | None = None  # when the prices read so far are flushed
        flushed = float("-inf")  # when the last flush was
        while self._state is not _State.STOPPED:
            if not self._alive():
                self.stop()
                break
            wait = POLL_SECONDS if due is None else max(0.0, due - time.monotonic())
            message = pubsub.get_message(timeout=wait)
            if message is not None and message.get("type") == "message":
                price = latest_from_message(message["data"])
                if price is None:
                    self._metrics.unreadable_messages.inc()
                else:
                    self._stage(price)
                    if due is None:  # at once, unless a flush went out less than interval ago
                        due = max(time.monotonic(), flushed + self._interval)
            if due is not None and (now := time.monotonic()) >= due:
                self._flush()
                due, flushed = None, now
            with self._lock:
                idle = self._idle()
            if not idle:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= IDLE_SECONDS and self._go_idle():
                break

    def _relay(self, prices: Iterable[LatestPrice | None]) -> None:
        """Offer each price that moves a symbol forward to who wants it, at once."""
        for price in prices:
            if price is not None:
                self._stage(price)
        self._flush()

    def _stage(self, price: LatestPrice) -> None:
        """Keep *price* for the next flush if it is the newest of its symbol."""
        staged = self._staged.get(price.symbol)
        if staged is None or staged.trade_id < price.trade_id:
            self._staged[price.symbol] = price

    def _flush(self) -> None:
        """Render each staged price once and hand every subscriber the events it wants."""
        now = self._clock_us()
        slow: dict[Subscriber, None] = {}
        with self._lock:
            batch: list[PriceEvent] = []
            for price in self._staged.values():
                known = self._latest.get(price.symbol)
                if known is not None and known.trade_id >= price.trade_id:
                    continue
                self._latest[price.symbol] = price
                batch.append(PriceEvent(price.symbol, price.trade_id, price_event(price, now)))
            self._staged.clear()
            payloads: dict[tuple[tuple[str, ...], bool], bytes] = {}
            if batch and self._everything:
                every = tuple(batch)
                payload = _payload(payloads, every)
                for sub in self._everything:
                    if not sub.deliver(every, payload):
                        slow[sub] = None
            wanted: dict[Subscriber, list[PriceEvent]] = {}
            for event in batch:
                for sub in self._by_symbol.get(event.symbol, ()):
                    wanted.setdefault(sub, []).append(event)
            for sub, events in wanted.items():
                chosen = tuple(events)
                if not sub.deliver(chosen, _payload(payloads, chosen)):
                    slow[sub] = None
            for sub in slow:
                self._forget(sub)
        for sub in slow:
            sub.end(StreamEnd.SLOW)
            self._metrics.streams.dec()
            self._metrics.streams_dropped.inc()


def _payload(
    cache: dict[tuple[tuple[str, ...], bool], bytes], events: tuple[PriceEvent, ...]
) -> Callable[[bool], bytes]:
    """Return the builder of *events*' joined (and maybe chunked) bytes, built once per flush."""

    def build(chunked: bool) -> bytes:
        key = (tuple(e.symbol for e in events), chunked)
        data = cache.get(key)
        if data is None:
            data = b"".join(e.data for e in events)
            cache[key] = data = chunk(data) if chunked else data
        return data

    return build
