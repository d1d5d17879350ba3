"""What the market pump reads events from: a recording, or the synthetic market's heap.

Both answer "when is the next event due" (:meth:`Source.next_time`) and "release what is due"
(:meth:`Source.take`), so the pump can wait for the right moment before anything is built.
Only a synthetic source can start, stop or add a symbol's trades at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from tickvault_replay.model import Event
from tickvault_replay.symbols import SymbolSpec


class Source(Protocol):
    """An ordered supply of market events."""

    finite: bool

    def origin_us(self) -> int | None:
        """Return the market time the clock starts at (None: the first event's)."""

    def next_time(self) -> int | None:
        """Return when the next event is due (None: nothing is due, for now or for good)."""

    def take(self) -> list[Event]:
        """Return the events due next, in order."""

    def add(
        self, spec: SymbolSpec, rate: float, first_id: int, now_us: int, trading: bool = True
    ) -> None:
        """Start trading *spec* from *now_us* (a recording cannot: it ignores this)."""

    def set_trading(self, symbol: str, trading: bool, now_us: int) -> None:
        """Stop or resume *symbol*'s trades (a recording ignores this)."""

    def next_id(self, symbol: str) -> int | None:
        """Return the id of *symbol*'s next trade, if the source decides it."""


class RecordedSource:
    """A recording (or its endless ``--loop``) as a source; statuses do not change its trades."""

    def __init__(self, events: Iterator[Event], finite: bool) -> None:
        self.finite = finite
        self._events = events
        self._next = next(events, None)

    def origin_us(self) -> int | None:
        """Return None: a recording's clock starts at its first event."""
        return None

    def next_time(self) -> int | None:
        """Return the time of the next recorded event."""
        return None if self._next is None else self._next.time_us

    def take(self) -> list[Event]:
        """Return the next recorded event."""
        event = self._next
        assert event is not None
        self._next = next(self._events, None)
        return [event]

    def add(
        self, spec: SymbolSpec, rate: float, first_id: int, now_us: int, trading: bool = True
    ) -> None:
        """Ignore: a recording has no flow to start."""

    def set_trading(self, symbol: str, trading: bool, now_us: int) -> None:
        """Ignore: a recording plays as recorded."""

    def next_id(self, symbol: str) -> int | None:
        """Return None: the recording decides its ids."""
        return None
