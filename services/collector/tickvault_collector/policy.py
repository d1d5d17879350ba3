"""Connection policy (pure): sharding, stream URLs, lifetimes, the connection-attempt budget.

Binance allows 1024 streams per connection and 300 connection attempts per 5 minutes per
IP. Waits between attempts follow the collector's :class:`~tickvault.retry.RetryPolicy`
(:meth:`CollectorSettings.retry_policy`).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from urllib.parse import quote


def shard(symbols: Sequence[str], per_connection: int) -> list[tuple[str, ...]]:
    """Split *symbols* into groups of at most *per_connection* (never more than 1024)."""
    size = max(1, min(per_connection, 1024))
    return [tuple(symbols[i : i + size]) for i in range(0, len(symbols), size)]


def stream_url(base: str, symbols: Sequence[str]) -> str:
    """Return the combined-stream URL of *symbols*' trade streams, in microseconds."""
    names = "/".join(quote(s.lower(), safe="") + "@trade" for s in symbols)
    return f"{base.rstrip('/')}/stream?streams={names}&timeUnit=MICROSECOND"


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
