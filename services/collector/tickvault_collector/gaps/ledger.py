"""One stream shard's resume marks as appended, and which of them the writers stored (pure).

After Redis lost a shard's entries, everything above a symbol's last *confirmed* mark is what
may be gone (:mod:`tickvault_collector.gaps.stream_loss` refills it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping

from tickvault_collector.append import StreamId, parse_id

CHECKPOINT_EVERY_S = 0.25  # how often a ledger snapshots the resume marks
MAX_SNAPSHOTS = 240  # unconfirmed snapshots kept; past it none is taken until one confirms


class Ledger:
    """One shard's resume marks as appended, and which of them every group acknowledged.

    :meth:`appended` snapshots the marks (at most every :data:`CHECKPOINT_EVERY_S`) with the
    id of the entry appended last; :meth:`acknowledged` confirms every snapshot older than
    the safe trim point. :meth:`confirmed` is then a symbol's highest id known stored.
    Memory is bounded: at most :data:`MAX_SNAPSHOTS` wait for confirmation (writers stopped
    for long), each one dict of marks.
    """

    def __init__(self, start: Mapping[str, int] | None = None) -> None:
        self._confirmed: dict[str, int] = dict(start or {})
        self._pending: deque[tuple[StreamId, dict[str, int]]] = deque()
        self._next_snapshot = 0.0

    def appended(self, last_id: bytes, marks: Mapping[str, int], now: float | None = None) -> None:
        """Note an append that returned *last_id*, the marks being *marks*."""
        now = time.monotonic() if now is None else now
        entry = parse_id(last_id) if last_id else None
        if entry is None or now < self._next_snapshot or len(self._pending) >= MAX_SNAPSHOTS:
            return  # skipping one only makes a loss refill more than it must, never less
        self._next_snapshot = now + CHECKPOINT_EVERY_S
        self._pending.append((entry, dict(marks)))

    def acknowledged(self, safe: StreamId | None) -> None:
        """Confirm the snapshots whose entry is older than *safe* (all groups acked it)."""
        if safe is None:
            return
        pending = self._pending
        while pending and pending[0][0] < safe:
            _, marks = pending.popleft()
            confirmed = self._confirmed
            for symbol, mark in marks.items():
                if mark > confirmed.get(symbol, -1):
                    confirmed[symbol] = mark

    def start(self, symbol: str, mark: int) -> None:
        """Take *mark* (where *symbol* resumed) as stored until a snapshot says more."""
        self._confirmed.setdefault(symbol, mark)

    def confirmed(self, symbol: str) -> int | None:
        """Return the highest id of *symbol* with every id up to it stored, if known."""
        return self._confirmed.get(symbol)

    def lost(self) -> None:
        """Forget the unconfirmed snapshots: the entries they stood for are gone."""
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)
