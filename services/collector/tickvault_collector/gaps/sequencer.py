"""Per-symbol trade-id continuity: accept, drop duplicates, spot gaps (pure).

Binance spot trade ids are dense per symbol, so for a trade ``t`` after ``last``:
``t <= last`` is a duplicate (normal after a reconnect or while two connections overlap),
``t == last + 1`` is the next trade, and ``t > last + 1`` means ``last+1 .. t-1`` went missing.
A symbol started from a resume point is *resumed* until its next trade: a jump then is the
ids missed while the collector was away (``reconnect``), not a loss on the live feed.
"""

from __future__ import annotations

import enum


class Verdict(enum.IntEnum):
    """What a new trade id means for its symbol's sequence."""

    ACCEPT = 0  # the next id (or the first one seen)
    DUPLICATE = 1  # seen already: drop it
    GAP = 2  # ids between the last one and this one went missing


ACCEPT, DUPLICATE, GAP = Verdict.ACCEPT, Verdict.DUPLICATE, Verdict.GAP


class Sequencer:
    """The highest trade id accepted per symbol, and the verdict on each new one."""

    __slots__ = ("_first", "_last", "_resumed", "gap_first", "gap_resumed")

    def __init__(self, start: dict[str, int] | None = None) -> None:
        self._last: dict[str, int] = dict(start or {})
        self._first: dict[str, int] = {}  # the first id accepted of a symbol without a start
        self._resumed: set[str] = set()  # started from a resume point, no trade seen yet
        self.gap_first = 0  # first missing id of the last GAP verdict (its end is t - 1)
        self.gap_resumed = False  # whether the last GAP verdict came right after a resume

    def offer(self, symbol: str, trade_id: int) -> Verdict:
        """Return the verdict on *trade_id* and remember it when not a duplicate."""
        last = self._last.get(symbol)
        if last is None:
            self._last[symbol] = self._first[symbol] = trade_id
            return ACCEPT
        if trade_id == last + 1:
            self._last[symbol] = trade_id
            if self._resumed:
                self._resumed.discard(symbol)
            return ACCEPT
        if trade_id <= last:
            return DUPLICATE
        self.gap_first = last + 1
        self.gap_resumed = symbol in self._resumed
        if self.gap_resumed:
            self._resumed.discard(symbol)
        self._last[symbol] = trade_id
        return GAP

    def advance_to(self, symbol: str, latest: int) -> tuple[int, int] | None:
        """Move *symbol* up to the exchange's *latest* id; return the ids skipped, if any."""
        last = self._last.get(symbol)
        if last is None or latest <= last:
            return None
        self._last[symbol] = latest
        return (last + 1, latest)

    def start(self, symbol: str, last: int, *, resumed: bool = False) -> bool:
        """Start *symbol* after id *last* unless it has a position; return whether it did.

        *resumed*: *last* is a resume point (the next jump is ``reconnect``)."""
        if symbol in self._last:
            return False
        self._last[symbol] = last
        if resumed:
            self._resumed.add(symbol)
        return True

    def first(self, symbol: str) -> int | None:
        """Return the first id accepted for *symbol* when it began without a position."""
        return self._first.get(symbol)

    def last(self, symbol: str) -> int | None:
        """Return the highest id accepted for *symbol*, or None before the first one."""
        return self._last.get(symbol)


def cap_gap(first: int, last: int, cap: int) -> tuple[tuple[int, int] | None, tuple[int, int]]:
    """Split a gap into (the part too old to fetch, the newest *cap* ids to backfill)."""
    if last - first + 1 <= cap:
        return None, (first, last)
    keep_from = last - cap + 1
    return (first, keep_from - 1), (keep_from, last)
