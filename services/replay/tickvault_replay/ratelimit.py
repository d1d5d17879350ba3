"""Binance's rate limits as pure state machines; the caller passes the time in.

* :class:`WeightBook`: REST ``REQUEST_WEIGHT`` per IP per fixed window (a calendar minute on
  Binance); over the limit -> 429 with ``Retry-After``; a request during that wait -> 418,
  banned for ``ban_s``, twice as long at each further ban up to 3 days ("bans scale in
  duration for repeat offenders, from 2 minutes to 3 days"; the doubling is this replay's
  choice, Binance does not publish its scale).
* :class:`MessageRate`: client frames per connection per second (over -> close 1008).
* :class:`AttemptBook`: connection attempts per IP in a sliding window (over -> 429).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Verdict:
    """The outcome of a REST request against the weight limit."""

    status: int
    used: int
    retry_after: int = 0


_LONGEST_BAN_S = 3 * 86400.0


@dataclass(slots=True)
class _Ip:
    window: int = -1
    used: int = 0
    wait_until: float = 0.0
    banned_until: float = 0.0
    bans: int = 0


@dataclass(slots=True)
class WeightBook:
    """Per-IP request weight in fixed windows of ``window_s`` seconds."""

    limit: int
    window_s: float = 60.0
    ban_s: float = 120.0
    _ips: dict[str, _Ip] = field(default_factory=dict)

    def charge(self, ip: str, weight: int, now: float) -> Verdict:
        """Charge *weight* to *ip* at wall time *now* (seconds)."""
        state = self._ips.setdefault(ip, _Ip())
        window = int(now // self.window_s)
        if window != state.window:
            state.window, state.used = window, 0
        if now < state.banned_until:
            return Verdict(418, state.used, math.ceil(state.banned_until - now))
        if now < state.wait_until:
            state.bans += 1
            ban_s = min(self.ban_s * 2 ** (state.bans - 1), _LONGEST_BAN_S)
            state.banned_until = now + ban_s
            return Verdict(418, state.used, math.ceil(ban_s))
        state.used += weight
        if self.limit and state.used > self.limit:
            state.wait_until = (window + 1) * self.window_s
            return Verdict(429, state.used, max(1, math.ceil(state.wait_until - now)))
        return Verdict(200, state.used)


@dataclass(slots=True)
class MessageRate:
    """Counts client frames; more than ``limit`` within one second is a violation."""

    limit: int
    _times: deque[float] = field(default_factory=deque)

    def hit(self, now: float) -> bool:
        """Record one frame at *now*; return False when the rate is exceeded."""
        if not self.limit:
            return True
        times = self._times
        times.append(now)
        while times and now - times[0] >= 1.0:
            times.popleft()
        return len(times) <= self.limit


@dataclass(slots=True)
class AttemptBook:
    """Connection attempts per IP within a sliding window."""

    limit: int
    window_s: float = 300.0
    _ips: dict[str, deque[float]] = field(default_factory=dict)

    def attempt(self, ip: str, now: float) -> bool:
        """Record an attempt from *ip*; return False when over the limit."""
        if not self.limit:
            return True
        times = self._ips.setdefault(ip, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        times.append(now)
        return len(times) <= self.limit
