"""Which symbols to capture, and what the exchange says of each (pure).

``TICKVAULT_SYMBOLS`` is a comma-separated mix of explicit names (``BTCUSDT``), ``ALL``
(every spot symbol whose status is ``TRADING``) and shell-style patterns (``*USDT``,
``BTC*``, ``?ETH*``). :class:`Selection` holds the parsed terms and picks the symbols to
capture out of an exchange universe (``{symbol: status}`` from ``exchangeInfo``).

This module is the one place that decides what a symbol name may be (:data:`SYMBOL_PATTERN`,
:func:`is_name`, :func:`why_not_name`) and how its case is read (:func:`canonical`). Since
2025-12 Binance lists UTF-8 names (``这是测试币456``, ``币安人生USDT``): a name is 1 to 50
characters, each an upper-case ASCII letter, an ASCII digit, ``-``, ``_``, ``.`` or any
visible non-ASCII character (not a control, a space, an invisible format character, a
surrogate, a private-use character or a noncharacter). ASCII letters are case-insensitive
where a user types a name (``btcusdt`` is ``BTCUSDT``); every other character keeps the case
the exchange lists it with. Stream names lower-case the ASCII letters only
(:func:`stream_symbol`).

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

ALL = "ALL"
MAX_NAME_CHARS = 50
# Non-ASCII characters a name may not hold: C1 controls, spaces, invisible format
# characters (zero-width, bidi controls, BOM), surrogates, private use, noncharacters.
_NOT_NAME = (
    "\x80-\xa0\xad\u034f\u061c\u115f\u1160\u1680\u180e\u2000-\u200f\u2028-\u202f"
    "\u205f-\u206f\u3000\u3164\ud800-\udfff\ue000-\uf8ff\ufeff\uffa0\ufff0-\uffff"
    "\U000e0000-\U000e0fff\U000f0000-\U0010ffff"
)
NAME_CHAR = rf"(?:[A-Z0-9_.\-]|[^\x00-\x7f{_NOT_NAME}])"
SYMBOL_PATTERN = rf"{NAME_CHAR}{{1,{MAX_NAME_CHARS}}}"
_NAME = re.compile(SYMBOL_PATTERN)
_PATTERN = re.compile(rf"(?:{NAME_CHAR}|[*?\[\]!]){{1,{MAX_NAME_CHARS}}}")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


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
    UNSUPPORTED = "UNSUPPORTED"  # listed under a name tickvault cannot store (see why_not_name)

    @classmethod
    def of(cls, text: str) -> Status | None:
        """Return the status named *text*, or None for a value Binance has not documented."""
        try:
            return cls(text)
        except ValueError:
            return None


def is_name(text: str) -> bool:
    """Return whether *text* is a symbol name tickvault can store (see the module's rule)."""
    return _NAME.fullmatch(text) is not None


def why_not_name(text: str) -> str | None:
    """Return why tickvault cannot store the listed name *text*, or None when it can."""
    if is_name(text):
        return None
    if not text:
        return "empty name"
    if len(text) > MAX_NAME_CHARS:
        return f"longer than {MAX_NAME_CHARS} characters"
    bad = next(c for c in text if re.fullmatch(NAME_CHAR, c) is None)
    if "a" <= bad <= "z":
        return "holds a lower-case ASCII letter"
    return f"holds the character U+{ord(bad):04X}, not allowed in a symbol name"


def canonical(text: str) -> str:
    """Return the name a user typed as tickvault stores it: trimmed, ASCII letters upper-cased,
    every other character as given (``btcusdt`` → ``BTCUSDT``, ``这是测试币456`` unchanged)."""
    return text.strip().translate(_ASCII_UPPER)


def stream_symbol(symbol: str) -> str:
    """Return *symbol* as Binance writes it in a stream name: ASCII letters lower-cased, every
    other character as listed (``BTCUSDT`` → ``btcusdt``, ``币安人生USDT`` → ``币安人生usdt``)."""
    return symbol.translate(_ASCII_LOWER)


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
            term = canonical(raw)
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
        ``TRADING``. Names the exchange lists that tickvault cannot store (see
        :func:`why_not_name`) are left out here; :func:`unusable` names them with the reason.
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
            name = raw_name.decode()
        except UnicodeDecodeError:
            continue
        if not is_name(name):
            continue  # an UNSUPPORTED name: see unsupported()
        if name in found:
            found[name] = parse_status_value(raw_value)
        elif not selection.is_explicit and selection.matches(name):
            matched[name] = parse_status_value(raw_value)
    return found | dict(sorted(matched.items()))


def unusable(universe: Iterable[str]) -> dict[str, str]:
    """Return the listed symbol names tickvault cannot store, each with the reason."""
    return {s: why for s in universe if (why := why_not_name(s)) is not None}


def _status(text: str) -> Status:
    # An undocumented status is treated like a halt: watched, nothing expected.
    return Status.of(text) or Status.HALT


def status_value(status: Status, since_us: int, reason: str | None = None) -> bytes:
    """Return the value stored per symbol in the symbols hash (an ``UNSUPPORTED`` name's
    value also says why)."""
    value: dict[str, object] = {"status": status.value, "since_us": since_us}
    if reason is not None:
        value["reason"] = reason
    return msgspec.json.encode(value)


def parse_status_value(raw: bytes | str) -> tuple[Status, int] | None:
    """Return ``(status, since_us)`` from a symbols-hash value, or None when it is not one."""
    try:
        data = msgspec.json.decode(raw)
        status = Status.of(str(data["status"]))
        since = int(data["since_us"])
    except (msgspec.DecodeError, RecursionError, KeyError, TypeError, ValueError):
        return None
    return None if status is None else (status, since)


def unsupported(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    """Return the listed names the symbols hash *fields* reports as ``UNSUPPORTED``, each
    with the reason (the name shown with Python's escapes where it is not text)."""
    found: dict[str, str] = {}
    for raw_name, raw_value in fields.items():
        try:
            data = msgspec.json.decode(raw_value)
            if data.get("status") != Status.UNSUPPORTED.value:
                continue
            reason = str(data.get("reason") or "a name tickvault cannot store")
        except (msgspec.DecodeError, RecursionError, AttributeError):
            continue
        found[raw_name.decode(errors="backslashreplace")] = reason
    return dict(sorted(found.items()))
