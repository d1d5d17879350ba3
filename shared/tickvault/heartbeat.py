"""The collector's heartbeat value: what it says about itself every second (collector writes,
API and ``--check`` read).

The key (:meth:`tickvault.keys.RedisKeys.heartbeat`, with a TTL) says a collector is alive;
its JSON value says how far it is: trades published, symbols tracked, and the repair backlog
(REST calls its open gaps still need, and how old the oldest is). :func:`repair_backlog`
sums the backlog of every live collector for ``/readyz``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec


class CollectorBeat(msgspec.Struct, frozen=True):
    """One collector's heartbeat."""

    time_us: int
    published: int = 0
    symbols: int = 0
    calls_queued: int = 0  # historicalTrades calls its open gaps still need
    oldest_gap_s: float = 0.0  # age of its oldest open gap


_DECODER = msgspec.json.Decoder(CollectorBeat)


def beat_value(beat: CollectorBeat) -> bytes:
    """Return the JSON stored under a collector's heartbeat key."""
    return msgspec.json.encode(beat)


def parse_beat(raw: bytes | str | None) -> CollectorBeat | None:
    """Return the heartbeat in *raw*, or None when it is absent or not one."""
    if raw is None:
        return None
    try:
        return _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def repair_backlog(beats: Iterable[CollectorBeat]) -> dict[str, Any] | None:
    """Return the repair backlog of every collector together, or None without any."""
    beats = list(beats)
    if not beats:
        return None
    return {
        "collectors": len(beats),
        "calls_queued": sum(b.calls_queued for b in beats),
        "oldest_gap_s": max(b.oldest_gap_s for b in beats),
    }
