"""Connection policy (pure): stream names, subscription messages, lifetimes, the
connection-attempt budget.

Binance allows 1024 streams per connection, 5 incoming messages a second per connection
(every client message counts: SUBSCRIBE, UNSUBSCRIBE, pings and pongs alike) and 300
connection attempts per 5 minutes per IP, and a client message above 4,096 bytes gets no
answer at all. A connection opens on the bare combined endpoint and subscribes its streams
with SUBSCRIBE messages kept under :data:`MAX_MESSAGE_BYTES`
(:func:`subscription_messages`), at most :data:`CONTROL_PER_S` a second, which leaves room
for the pongs. Waits between attempts follow the collector's
:class:`~tickvault.retry.RetryPolicy` (:meth:`CollectorSettings.retry_policy`).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence

import msgspec

from tickvault.symbols import stream_symbol

MAX_STREAMS = 1024  # per connection (Binance)
MAX_MESSAGE_BYTES = 4000  # a SUBSCRIBE above 4,088 payload bytes is never answered
CONTROL_PER_S = 3.0  # of the 5 messages a second Binance allows, the rest for pongs


def trade_stream(symbol: str) -> str:
    """Return the name of *symbol*'s trade stream (ASCII letters lower-case, every other
    character as listed: :func:`tickvault.symbols.stream_symbol`)."""
    return stream_symbol(symbol) + "@trade"


def combined_url(base: str) -> str:
    """Return the combined-stream endpoint without streams, asking for microseconds."""
    return f"{base.rstrip('/')}/stream?timeUnit=MICROSECOND"


def subscription_messages(
    method: str, streams: Iterable[str], first_id: int, max_bytes: int = MAX_MESSAGE_BYTES
) -> list[tuple[int, bytes, list[str]]]:
    """Return ``(id, JSON text, streams)`` per message that (un)subscribes *streams*, each
    message under *max_bytes*, with ids counting up from *first_id*."""
    messages: list[tuple[int, bytes, list[str]]] = []
    chunk: list[str] = []
    size = 0

    def flush() -> None:
        request_id = first_id + len(messages)
        body = msgspec.json.encode({"method": method, "params": chunk, "id": request_id})
        messages.append((request_id, body, list(chunk)))

    base = len(msgspec.json.encode({"method": method, "params": [], "id": 2**62}))
    for stream in streams:
        cost = len(msgspec.json.encode(stream)) + 1
        if chunk and base + size + cost > max_bytes:
            flush()
            chunk, size = [], 0
        chunk.append(stream)
        size += cost
    if chunk:
        flush()
    return messages


def place(
    wanted: Sequence[str], rooms: Sequence[int], per_connection: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Spread *wanted* over connections with *rooms* free streams each, filling them in
    order; return what goes to each existing connection, and the new connections needed
    (of *per_connection* streams each) for the rest."""
    out: list[list[str]] = [[] for _ in rooms]
    at = 0
    for index, room in enumerate(rooms):
        take = max(0, min(room, len(wanted) - at))
        out[index] = list(wanted[at : at + take])
        at += take
    size = max(1, min(per_connection, MAX_STREAMS))
    new = [list(wanted[i : i + size]) for i in range(at, len(wanted), size)]
    return out, new


class ConnectBudget:
    """A sliding window of connection attempts: at most *limit* per *window* seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._attempts: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Return how long to wait before another attempt is within budget."""
        while self._attempts and self._attempts[0] <= now - self.window:
            self._attempts.popleft()
        if len(self._attempts) < self.limit:
            return 0.0
        return self._attempts[0] + self.window - now

    def spend(self, now: float) -> None:
        """Count one attempt at *now*."""
        self._attempts.append(now)


def lifetime(base: float, jitter: float, rng: random.Random | None = None) -> float:
    """Return when to rotate a new connection: *base* seconds minus up to *jitter*."""
    r = rng or random
    return max(1.0, base - r.uniform(0, jitter))
