"""The exchange's symbol list and what this collector tracks of it (pure).

:func:`parse_universe` reads an ``exchangeInfo`` body entry by entry: an entry without a
readable name and status is counted, the others are kept, and a name tickvault cannot store
(:func:`tickvault.symbols.why_not_name`) is set aside with its reason, for a log line and the
symbols hash (status ``UNSUPPORTED``). :class:`Tracker` applies each answer to
the tracked set (:meth:`tickvault.symbols.Selection.choose`) and says what changed:

- a tracked symbol that starts ``TRADING`` is *started* (subscribed), one that stops
  (``BREAK``, ``HALT``, …, or gone from the list: ``UNLISTED``) is *stopped* (unsubscribed);
  it stays tracked with its position, and continues without a gap if it comes back;
- an answer that holds unreadable entries is *partial*: a symbol missing from it may only be
  unreadable, so nothing is taken off the list on its word;
- an answer without a single symbol is refused (:class:`BadUniverse`): it says nothing about
  the symbols, and taking it at its word would stop the whole capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from tickvault.errors import FrameError
from tickvault.symbols import Selection, Status, unusable


class BadUniverse(FrameError):
    """An exchangeInfo answer that cannot be used at all (not JSON, no symbol list, empty)."""


@dataclass(frozen=True, slots=True)
class Universe:
    """One exchangeInfo answer: ``{symbol: status}`` of its readable entries."""

    statuses: dict[str, str]
    bad_entries: int = 0  # entries without a readable name or status
    unusable: dict[str, str] = field(default_factory=dict)  # listed names tickvault cannot
    # store, each with the reason

    @property
    def partial(self) -> bool:
        """Return whether some entries could not be read (absence then proves nothing)."""
        return self.bad_entries > 0


class _Entry(msgspec.Struct):
    symbol: str
    status: str


class _Body(msgspec.Struct):
    symbols: list[msgspec.Raw]


_BODY = msgspec.json.Decoder(_Body)
_ENTRY = msgspec.json.Decoder(_Entry)
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, UnicodeError)


def parse_universe(body: bytes) -> Universe:
    """Read an exchangeInfo body; raise BadUniverse when it holds no usable symbol list."""
    try:
        raw = _BODY.decode(body)
    except _ERRORS as exc:
        raise BadUniverse(f"exchangeInfo is not readable: {exc}") from exc
    statuses: dict[str, str] = {}
    bad = 0
    for item in raw.symbols:
        try:
            entry = _ENTRY.decode(item)
        except _ERRORS:
            bad += 1
            continue
        if not entry.status or not entry.status.isascii():
            bad += 1
        else:
            statuses[entry.symbol] = entry.status
    refused = unusable(statuses)
    for name in refused:
        del statuses[name]
    if not statuses:
        raise BadUniverse(
            f"exchangeInfo lists no usable symbol ({len(raw.symbols)} entries, {bad} unreadable)"
        )
    return Universe(statuses, bad, refused)


@dataclass(slots=True)
class Changes:
    """What one exchangeInfo answer changed in the tracked set."""

    started: list[str] = field(default_factory=list)  # now TRADING: subscribe
    stopped: list[str] = field(default_factory=list)  # no longer TRADING: unsubscribe
    statuses: dict[str, tuple[Status, int]] = field(default_factory=dict)  # new (status, since)
    new: list[str] = field(default_factory=list)  # tracked for the first time
    unlisted: list[str] = field(default_factory=list)  # explicit names the exchange lacks


class Tracker:
    """The tracked symbols, each with its status and since when (epoch µs)."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self.statuses: dict[str, Status] = {}
        self.since: dict[str, int] = {}

    def trading(self) -> list[str]:
        """Return the tracked symbols that are trading (the ones to subscribe)."""
        return [s for s, st in self.statuses.items() if st is Status.TRADING]

    def wants(self, symbol: str) -> bool:
        """Return whether *symbol* would be tracked were it trading (a name or a match)."""
        return symbol in self.statuses or (
            not self.selection.is_explicit and self.selection.matches(symbol)
        )

    def apply(self, universe: Universe, now_us: int) -> Changes:
        """Take one answer; return what changed (a partial answer takes nothing away)."""
        changes = Changes()
        chosen = self.selection.choose(universe.statuses)
        for symbol, status in self.statuses.items():
            if symbol in chosen:
                continue
            listed = universe.statuses.get(symbol)
            if listed is not None:
                chosen[symbol] = Status.of(listed) or Status.HALT
            elif not universe.partial:
                chosen[symbol] = Status.UNLISTED
            else:
                chosen[symbol] = status
        if universe.partial:
            for symbol, status in chosen.items():
                if status is Status.UNLISTED and self.statuses.get(symbol, status) is not status:
                    chosen[symbol] = self.statuses[symbol]
        for symbol, status in chosen.items():
            self._change(symbol, status, now_us, changes)
        return changes

    def _change(self, symbol: str, status: Status, now_us: int, changes: Changes) -> None:
        before = self.statuses.get(symbol)
        if before is status:
            return
        self.statuses[symbol] = status
        self.since[symbol] = now_us
        changes.statuses[symbol] = (status, now_us)
        if before is None:
            changes.new.append(symbol)
            if status is Status.UNLISTED:
                changes.unlisted.append(symbol)
        if status is Status.TRADING:
            changes.started.append(symbol)
        elif before is Status.TRADING:
            changes.stopped.append(symbol)

    def counts(self) -> dict[Status, int]:
        """Return how many tracked symbols have each status."""
        out: dict[Status, int] = {}
        for status in self.statuses.values():
            out[status] = out.get(status, 0) + 1
        return out
