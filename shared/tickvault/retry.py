"""How every retry loop waits: one :class:`RetryPolicy` value, honouring ``Retry-After``.

A policy is a value (initial wait, cap, jitter, and what to do when a server says how long
to wait); :meth:`RetryPolicy.backoff` gives the running state of one loop, whose waits double
from ``initial`` up to ``cap``, each drawn at random from its upper ``jitter`` share, so that
many clients retrying at once spread out. :func:`parse_retry_after` is the one reader of the
``Retry-After`` header.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for, or None when absent or unreadable.

    Both forms of RFC 9110 are read: delay-seconds (``"120"``) and an HTTP-date, counted
    from *now* (epoch seconds; the clock by default).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, and the wait a server's refusal asks for."""

    initial: float
    cap: float
    jitter: float = 0.5  # each wait is drawn from [(1 - jitter) * w, w]
    limited_default: float = 60.0  # wait after a 429/418 without a usable Retry-After
    limited_floor: float = 1.0  # the shortest wait after a 429/418, whatever it says

    def backoff(self, rng: random.Random | None = None) -> Backoff:
        """Return the running state of one retry loop under this policy."""
        return Backoff(self, rng)

    def limited_wait(self, retry_after: str | None) -> float:
        """Return the wait after a rate-limit answer carrying *retry_after* (the header)."""
        asked = parse_retry_after(retry_after)
        if asked is None:
            return max(self.limited_default, self.limited_floor)
        return max(asked, self.limited_floor)


class Backoff:
    """The waits of one retry loop: doubling up to the cap, reset after a success."""

    __slots__ = ("_attempt", "_rng", "policy")

    def __init__(self, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """Return the wait before the next attempt and lengthen the following one."""
        p = self.policy
        ceiling = min(p.cap, p.initial * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 64)
        return self._rng.uniform(ceiling * (1 - p.jitter), ceiling)

    def reset(self) -> None:
        """Start again from the initial wait (after an attempt succeeded)."""
        self._attempt = 0
