"""Parse request parameters into typed values, raising a docs/API.md error for bad input.

Pure functions: every time comes back as integer epoch microseconds (UTC), every window as
a half-open ``[start, end)`` pair. Nothing here touches Flask, Redis or PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tickvault.codec import MAX_TIME
from tickvault.tick import MAX_TIME_US, MAX_TRADE_ID, MIN_TIME_US, datetime_to_us, iso_ms
from tickvault.symbols import canonical
from tickvault_api.errors import (
    InvalidParameter,
    InvalidRange,
    InvalidTime,
    RangeTooLarge,
    UnknownSymbol,
)

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

_EPOCH_MS = re.compile(r"-?\d{1,16}", re.ASCII)
# ISO 8601 extended format: a date, then optionally hh:mm[:ss[.f]] and Z or an offset.
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)
_MINUTE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})", re.ASCII)
_CURSOR = re.compile(r"(\d{1,19}):(\d{1,19})", re.ASCII)

INTERVALS_US = {
    "1s": SECOND_US,
    "1m": MINUTE_US,
    "5m": 5 * MINUTE_US,
    "15m": 15 * MINUTE_US,
    "1h": HOUR_US,
    "1d": DAY_US,
}
MATCHES = ("before", "nearest")
FORMATS = ("json", "csv")


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[start, end)`` in epoch µs."""

    start: int
    end: int


def parse_symbol(raw: str, tracked: Sequence[str]) -> str:
    """Return the tracked symbol *raw* names or raise ``unknown_symbol``: ASCII letters in
    any case, every other character as listed (:func:`tickvault.symbols.canonical`)."""
    symbol = canonical(raw)
    if symbol not in tracked:
        raise UnknownSymbol(raw, tracked)
    return symbol


def parse_time(raw: str | None, name: str) -> int:
    """Parse ISO 8601 (``Z``, offset, or none meaning UTC) or epoch milliseconds into µs."""
    if raw is None or not raw.strip():
        raise InvalidParameter(f"parameter {name!r} is required (ISO 8601 or epoch milliseconds)")
    text = raw.strip()
    us = int(text) * 1000 if _EPOCH_MS.fullmatch(text) else _parse_iso(text, name)
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise InvalidTime(
            f"parameter {name!r} = {_shown(raw)} is outside the accepted span "
            f"{iso_ms(MIN_TIME_US)} .. {iso_ms(MAX_TIME_US)}"
        )
    return us


def _parse_iso(text: str, name: str) -> int:
    try:
        # The shape first: CPython's fromisoformat stops at a NUL, and reads "T00:00.5" as
        # half a second past 00:00 (ISO 8601 would mean 30 s).
        if not _ISO.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTime(
            f"parameter {name!r} = {_shown(text)} is not a time: use ISO 8601 such as "
            "2024-08-09T00:01:02Z or 2024-08-09T02:01:02+02:00, or epoch milliseconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return datetime_to_us(parsed)
    except OverflowError:
        raise InvalidTime(f"parameter {name!r} = {_shown(text)} is out of range") from None


def parse_minute(raw: str) -> Window:
    """Parse ``YYYY-MM-DDTHH:MM`` (UTC) into the window of that minute."""
    match = _MINUTE.fullmatch(raw.strip())
    if not match:
        raise InvalidTime(f"parameter 'minute' = {_shown(raw)} is not of the form YYYY-MM-DDTHH:MM")
    try:
        year, month, day, hour, mins = (int(g) for g in match.groups())
        minute = datetime(year, month, day, hour, mins, tzinfo=UTC)
    except ValueError:
        raise InvalidTime(f"parameter 'minute' = {_shown(raw)} is not a valid minute") from None
    start = datetime_to_us(minute)
    if not MIN_TIME_US <= start <= MAX_TIME_US:
        raise InvalidTime(f"parameter 'minute' = {_shown(raw)} is outside the accepted span")
    return Window(start, start + MINUTE_US)


def parse_window(start_raw: str | None, end_raw: str | None, max_width_us: int) -> Window:
    """Parse ``start``/``end`` into a window no wider than *max_width_us*."""
    start = parse_time(start_raw, "start")
    end = parse_time(end_raw, "end")
    return check_window(Window(start, end), max_width_us)


def check_window(window: Window, max_width_us: int) -> Window:
    """Raise ``invalid_range`` or ``range_too_large`` for a bad window; return it otherwise."""
    if window.start >= window.end:
        raise InvalidRange(
            f"start ({iso_ms(window.start)}) must be before end ({iso_ms(window.end)})"
        )
    if window.end - window.start > max_width_us:
        raise RangeTooLarge(
            f"the window is wider than the maximum of {_hours(max_width_us)} hours; "
            "ask for a shorter window"
        )
    return window


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    """Parse a page size between 1 and *maximum*."""
    if raw is None or raw == "":
        return default
    # The length check first: int() refuses (ValueError) strings of thousands of digits.
    short = len(raw.lstrip("0")) <= len(str(maximum))
    if not (raw.isascii() and raw.isdigit() and short) or not 1 <= int(raw) <= maximum:
        raise InvalidParameter(f"parameter 'limit' = {_shown(raw)} must be an integer 1..{maximum}")
    return int(raw)


def encode_cursor(trade_time_us: int, trade_id: int) -> str:
    """Return the opaque cursor that resumes a history after this trade."""
    return base64.urlsafe_b64encode(f"{trade_time_us}:{trade_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[int, int]:
    """Return the (trade time µs, trade id) a cursor resumes after."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    match = _CURSOR.fullmatch(text)
    if match:
        trade_time, trade_id = int(match.group(1)), int(match.group(2))
        if trade_time <= MAX_TIME and trade_id <= MAX_TRADE_ID:  # what a stored trade can hold
            return trade_time, trade_id
    raise InvalidParameter("parameter 'cursor' is not a cursor this API returned")


def floor_to(us: int, step: int) -> int:
    """Round *us* down to a multiple of *step*."""
    return us - us % step


def ceil_to(us: int, step: int) -> int:
    """Round *us* up to a multiple of *step*."""
    return -(-us // step) * step


def _hours(us: int) -> str:
    hours = us / HOUR_US
    return f"{hours:g}"


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")
