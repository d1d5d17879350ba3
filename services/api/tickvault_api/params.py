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
from tickvault.symbols import canonical
from tickvault.tick import MAX_TIME_US, MAX_TRADE_ID, MIN_TIME_US, datetime_to_us, iso_ms
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

# The times a parameter accepts, exactly (the OpenAPI document states these patterns): epoch
# milliseconds, or an ISO 8601 calendar date (leap years included), then optionally
# hh:mm[:ss[.f]] and Z or an offset.
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)"
_HH_MM = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)"
EPOCH_MS_PATTERN = "-?[0-9]{1,16}"
ISO_PATTERN = f"{_DATE}(?:[T ]{_HH_MM}(?::[0-5][0-9](?:[.,][0-9]{{1,6}})?)?{_OFFSET}?)?"
TIME_PATTERN = f"^(?:{EPOCH_MS_PATTERN}|{ISO_PATTERN})$"
MINUTE_PATTERN = f"^{_DATE}T{_HH_MM}$"
LIMIT_PATTERN = "^0*[1-9][0-9]{0,8}$"
_EPOCH_MS = re.compile(EPOCH_MS_PATTERN)
_ISO = re.compile(ISO_PATTERN)
_MINUTE = re.compile(MINUTE_PATTERN)
_LIMIT = re.compile(LIMIT_PATTERN)
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
    """Parse ISO 8601 (``Z``, offset, or none meaning UTC) or epoch milliseconds into µs; a
    time outside the accepted span (2009 .. 2100) is taken as the span's nearest edge."""
    if raw is None or not raw:
        raise InvalidParameter(f"parameter {name!r} is required (ISO 8601 or epoch milliseconds)")
    us = int(raw) * 1000 if _EPOCH_MS.fullmatch(raw) else _parse_iso(raw, name)
    return min(max(us, MIN_TIME_US), MAX_TIME_US)


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
    if not _MINUTE.fullmatch(raw):
        raise InvalidTime(f"parameter 'minute' = {_shown(raw)} is not of the form YYYY-MM-DDTHH:MM")
    start = datetime_to_us(datetime.fromisoformat(raw).replace(tzinfo=UTC))
    start = min(max(start, MIN_TIME_US), MAX_TIME_US - MINUTE_US)
    return Window(start, start + MINUTE_US)


def parse_window(start_raw: str | None, end_raw: str | None, max_width_us: int) -> Window:
    """Parse ``start``/``end`` into a window no wider than *max_width_us*."""
    start = parse_time(start_raw, "start")
    end = parse_time(end_raw, "end")
    return check_window(Window(start, end), max_width_us)


def parse_open_window(
    start_raw: str | None, end_raw: str | None, max_width_us: int, around: Window | None = None
) -> Window | None:
    """Parse ``start``/``end`` either of which may be left out: that side is *around*'s
    (a minute) or else unbounded. None: neither given and no *around* (everything retained).
    Only a window with both ends given by the caller is held to *max_width_us*."""
    if start_raw is None and end_raw is None:
        return around
    start = parse_time(start_raw, "start") if start_raw is not None else None
    end = parse_time(end_raw, "end") if end_raw is not None else None
    if around is not None:
        return check_window(Window(start or around.start, end or around.end), max_width_us)
    window = Window(MIN_TIME_US if start is None else start, MAX_TIME_US if end is None else end)
    if start is None or end is None:
        return check_window(window, MAX_TIME_US)
    return check_window(window, max_width_us)


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
    """Parse a page size of at least 1; one above *maximum* is taken as *maximum*."""
    if raw is None or raw == "":
        return default
    if not _LIMIT.fullmatch(raw):  # at most 9 significant digits: int() takes it at once
        raise InvalidParameter(f"parameter 'limit' = {_shown(raw)} must be an integer 1..{maximum}")
    return min(int(raw), maximum)


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
