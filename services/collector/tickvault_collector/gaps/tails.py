"""Tail checks at constant cost: the exchange's latest trade ids against what was captured.

A loss at the end of a burst (or on a quiet symbol, or while a connection was cut) shows no
jump in ids until the symbol trades again, which may be hours later. The tickers say each
symbol's latest id for the whole market at once (:mod:`tickvault_collector.tickers`); when it
is above the last id captured, the trades in between are missing, unless their frames are
still on their way: the ticker runs on its own connection and may overtake them.

So a symbol found behind waits until its own connection's feed has passed the ticker's
exchange time by ``LEAD_US`` (the frames in flight have arrived), or until that connection
has delivered nothing for ``grace_s`` (nothing is in flight on an idle or cut connection),
and never longer than ``patience_s``. Only the symbols found behind are looked at, so the
cost follows the tickers' rows, not the number of symbols.

A symbol tracked after start without a position (a new listing, or one that starts trading
again with nothing stored) *awaits its first id*: the first ticker row naming it gives the
first id of its window, and capture starts there, whatever the WebSocket delivered first.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickvault_collector.gaps.sequencer import Sequencer
from tickvault_collector.tickers import TickerRow

LEAD_US = 1_000_000  # the feed must pass the ticker's time by this much to count as caught up


@dataclass(slots=True)
class FeedClock:
    """How far one connection's trade feed has come (set on every trade frame)."""

    event_us: int = 0  # exchange event time of its newest trade frame
    received_us: int = 0  # our wall time when that frame arrived


@dataclass(slots=True)
class _Behind:
    last_id: int  # the exchange's latest id
    time_us: int  # the ticker's exchange time
    seen_us: int  # our wall time when the ticker said so


class Tails:
    """The symbols the tickers show ahead of capture, and when each becomes a gap."""

    def __init__(self, sequencer: Sequencer, *, grace_s: float, patience_s: float) -> None:
        self._seq = sequencer
        self._grace_us = int(grace_s * 1e6)
        self._patience_us = int(max(patience_s, grace_s) * 1e6)
        self._behind: dict[str, _Behind] = {}
        self._awaiting: set[str] = set()
        self.clocks: dict[str, FeedClock] = {}  # symbol -> the feed of its connection

    def __len__(self) -> int:
        return len(self._behind)

    def await_first(self, symbol: str) -> None:
        """Start *symbol* at the first id the next ticker row shows (tracked after start)."""
        if self._seq.last(symbol) is None:
            self._awaiting.add(symbol)

    def observe(self, row: TickerRow, now_us: int) -> tuple[int, int] | None:
        """Take one ticker row of a tracked symbol; return ids certainly missed, if any.

        Those are the ids of an awaiting symbol below the first one the WebSocket delivered.
        """
        symbol = row.symbol
        missed = None
        if symbol in self._awaiting and row.first_id >= 0:
            self._awaiting.discard(symbol)
            first_seen = self._seq.first(symbol)
            started = self._seq.start(symbol, row.first_id - 1)
            if not started and first_seen is not None and row.first_id < first_seen:
                missed = (row.first_id, first_seen - 1)
        captured = self._seq.last(symbol)
        if captured is None or row.last_id <= captured:
            return missed
        entry = self._behind.get(symbol)
        if entry is None:
            self._behind[symbol] = _Behind(row.last_id, row.time_us, now_us)
        elif row.last_id > entry.last_id:
            entry.last_id, entry.time_us, entry.seen_us = row.last_id, row.time_us, now_us
        return missed

    def due(self, now_us: int, *, hold: bool = False) -> list[tuple[str, int, int]]:
        """Return the ranges now known missing (``symbol, first, last``) and forget them.

        With *hold* (our own readers are paused, so frames wait in the sockets) nothing is
        due, and the wait starts again once they read.
        """
        if hold:
            for entry in self._behind.values():
                entry.seen_us = now_us
            return []
        gaps: list[tuple[str, int, int]] = []
        settled: list[str] = []
        for symbol, entry in self._behind.items():
            captured = self._seq.last(symbol)
            if captured is None or captured >= entry.last_id:
                settled.append(symbol)
            elif self._is_due(symbol, entry, now_us):
                settled.append(symbol)
                skipped = self._seq.advance_to(symbol, entry.last_id)
                if skipped is not None:
                    gaps.append((symbol, *skipped))
        for symbol in settled:
            del self._behind[symbol]
        return gaps

    def forget(self, symbol: str) -> None:
        """Stop watching *symbol* (no longer tracked)."""
        self._behind.pop(symbol, None)
        self._awaiting.discard(symbol)
        self.clocks.pop(symbol, None)

    def _is_due(self, symbol: str, entry: _Behind, now_us: int) -> bool:
        waited = now_us - entry.seen_us
        if waited >= self._patience_us:
            return True
        clock = self.clocks.get(symbol)
        if clock is None:
            return waited >= self._grace_us
        if clock.event_us >= entry.time_us + LEAD_US:
            return True
        return waited >= self._grace_us and now_us - clock.received_us >= self._grace_us
