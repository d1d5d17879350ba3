"""Which symbols to capture, and what the exchange says of each (pure).

``TICKVAULT_SYMBOLS`` is a comma-separated mix of explicit names (``BTCUSDT``), ``ALL``
(every spot symbol whose status is ``TRADING``) and shell-style patterns (``*USDT``,
``BTC*``, ``?ETH*``). :class:`Selection` holds the parsed terms and picks the symbols to
capture out of an exchange universe (``{symbol: status}`` from ``exchangeInfo``).

The collector publishes what it tracks to the Redis hash
:attr:`tickvault.keys.RedisKeys.symbols` (one field per symbol, the value from
:func:`status_value`); the API reads it back with :func:`parse_status_value`. An explicit
name the exchange does not list is kept there with the status :attr:`Status.UNLISTED`, so
users see the typo instead of losing the whole capture.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from tickvault.tick import is_symbol

ALL = "ALL"
_PATTERN = re.compile(r"[A-Z0-9_\-*?\[\]!]{1,40}")


class Status(StrEnum):
    """A symbol's trading status: Binance's own, plus tickvault's ``UNLISTED``."""

    TRADING = "TRADING"
    BREAK = "BREAK"
    HALT = "HALT"
    PRE_TRADING = "PRE_TRADING"
    POST_TRADING = "POST_TRADING"
    END_OF_DAY = "END_OF_DAY"
    AUCTION_MATCH = "AUCTION_MATCH"
    CANCEL_ONLY = "CANCEL_ONLY"
    UNLISTED = "UNLISTED"  # named in the configuration, not (or no longer) listed by the exchange

    @classmethod
    def of(cls, text: str) -> Status | None:
        """Return the status named *text*, or None for a value Binance has not documented."""
        try:
            return cls(text)
        except ValueError:
            return None


def is_name(text: str) -> bool:
    """Return whether *text* is an upper-case symbol name tickvault can store."""
    return is_symbol(text)


def is_pattern(text: str) -> bool:
    """Return whether *text* is a shell-style pattern (holds ``*``, ``?`` or ``[``)."""
    return any(c in text for c in "*?[") and _PATTERN.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Selection:
    """The parsed ``TICKVAULT_SYMBOLS``: explicit names, ``ALL`` and patterns."""

    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    all: bool = False

    @classmethod
    def parse(cls, terms: Iterable[str]) -> Selection:
        """Parse the comma-separated terms (already split); raise ValueError naming a bad one."""
        names: dict[str, None] = {}
        patterns: dict[str, None] = {}
        everything = False
        for raw in terms:
            term = raw.strip().upper()
            if not term:
                continue
            if term == ALL:
                everything = True
            elif is_name(term):
                names[term] = None
            elif is_pattern(term):
                patterns[term] = None
            else:
                raise ValueError(f"not a Binance symbol or pattern: {raw.strip()}")
        if not (names or patterns or everything):
            raise ValueError("must name at least one symbol, ALL, or a pattern such as *USDT")
        return cls(tuple(names), tuple(patterns), everything)

    @property
    def is_explicit(self) -> bool:
        """Return whether only explicit names were given (no ``ALL``, no pattern)."""
        return not (self.all or self.patterns)

    def terms(self) -> tuple[str, ...]:
        """Return the terms in their canonical spelling (what the settings hold)."""
        return (*((ALL,) if self.all else ()), *self.patterns, *self.names)

    def matches(self, symbol: str) -> bool:
        """Return whether a listed *symbol* is wanted by ``ALL`` or one of the patterns."""
        if self.all:
            return True
        return any(fnmatch.fnmatchcase(symbol, p) for p in self.patterns)

    def choose(self, universe: Mapping[str, str]) -> dict[str, Status]:
        """Return every symbol to track with its status, from ``{symbol: status}``.

        Explicit names are tracked whatever their status (``UNLISTED`` when the exchange does
        not list them); ``ALL`` and patterns add the listed symbols whose status is
        ``TRADING``. Names the exchange lists that tickvault cannot store (lower-case,
        unicode) are left out here; :func:`unusable` names them for a log line.
        """
        chosen: dict[str, Status] = {}
        for name in self.names:
            listed = universe.get(name)
            chosen[name] = Status.UNLISTED if listed is None else _status(listed)
        if not self.is_explicit:
            for symbol, text in universe.items():
                if symbol in chosen or not is_name(symbol):
                    continue
                if text == Status.TRADING and self.matches(symbol):
                    chosen[symbol] = Status.TRADING
        return chosen


def reported(
    selection: Selection, fields: Mapping[bytes, bytes]
) -> dict[str, tuple[Status, int] | None]:
    """Return what *selection* tracks according to the symbols hash *fields* (collector-filled):
    every explicit name first, in configured order, then each reported symbol ``ALL`` or a
    pattern matches, by name; with its ``(status, since_us)`` when the hash holds one."""
    found: dict[str, tuple[Status, int] | None] = dict.fromkeys(selection.names)
    matched: dict[str, tuple[Status, int] | None] = {}
    for raw_name, raw_value in fields.items():
        try:
            name = raw_name.decode("ascii")
        except UnicodeDecodeError:
            continue
        if not is_name(name):
            continue
        if name in found:
            found[name] = parse_status_value(raw_value)
        elif not selection.is_explicit and selection.matches(name):
            matched[name] = parse_status_value(raw_value)
    return found | dict(sorted(matched.items()))


def unusable(universe: Iterable[str]) -> list[str]:
    """Return the listed symbol names tickvault cannot store (lower-case, unicode, too long)."""
    return [s for s in universe if not is_name(s)]


def _status(text: str) -> Status:
    # An undocumented status is treated like a halt: watched, nothing expected.
    return Status.of(text) or Status.HALT


def status_value(status: Status, since_us: int) -> bytes:
    """Return the value stored per symbol in the symbols hash."""
    return msgspec.json.encode({"status": status.value, "since_us": since_us})


def parse_status_value(raw: bytes | str) -> tuple[Status, int] | None:
    """Return ``(status, since_us)`` from a symbols-hash value, or None when it is not one."""
    try:
        data = msgspec.json.decode(raw)
        status = Status.of(str(data["status"]))
        since = int(data["since_us"])
    except (msgspec.DecodeError, RecursionError, KeyError, TypeError, ValueError):
        return None
    return None if status is None else (status, since)
