"""The normalized trade every service passes around: an immutable :class:`Tick`.

Prices and quantities keep the exact decimal string Binance sent (never a float). Times are
integer microseconds since the Unix epoch (UTC): Binance sends milliseconds by default and
microseconds with ``timeUnit=MICROSECOND``; both fit without loss.

The constructor is the only validation of a trade: a WebSocket frame, a REST page and a
stream entry all become a ``Tick`` or are refused with
:class:`~tickvault.errors.InvalidTick`, so everything downstream trusts a ``Tick``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import msgspec

from tickvault.errors import InvalidTick
from tickvault.symbols import is_name

DECIMAL_PATTERN = r"[0-9]{1,30}(?:\.[0-9]{1,30})?"  # ASCII digits only, unlike \d
_DECIMAL = re.compile(DECIMAL_PATTERN)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Epoch-microsecond bounds we accept: 2009-01-01 .. 2100-01-01.
MIN_TIME_US = 1_230_768_000_000_000
MAX_TIME_US = 4_102_444_800_000_000
MAX_TRADE_ID = 2**63 - 1  # PostgreSQL's bigint
_decimal = _DECIMAL.fullmatch


class Source(StrEnum):
    """Where a tick entered tickvault."""

    WS = "ws"  # the live WebSocket stream
    BACKFILL = "backfill"  # REST, filling a gap the collector saw
    AUDIT = "audit"  # REST, filling a gap the auditor found in PostgreSQL
    ARCHIVE = "archive"  # Binance's public archive, or REST filling its holes (an import)


class Tick(msgspec.Struct, frozen=True, gc=False):
    """One Binance trade, normalized.

    A frozen ``msgspec.Struct`` rather than a dataclass: it is built once per trade in the
    collector and again in the writer, and builds ~10x faster (measured); copy one with
    ``msgspec.structs.replace`` (which validates the copy too).

    Invariants, checked when built: a Binance symbol name (:mod:`tickvault.symbols`), a
    trade id that fits PostgreSQL's ``bigint``, plain non-negative decimal strings, exchange
    times within 2009..2100 (which catches milliseconds or nanoseconds mistaken for
    microseconds) and a receipt time before 2100.
    """

    symbol: str
    trade_id: int
    price: str
    quantity: str
    trade_time: int  # µs since the epoch, UTC (Binance ``T``)
    event_time: int  # µs since the epoch, UTC (Binance ``E``)
    is_buyer_maker: bool
    received_at: int  # µs since the epoch, UTC, when tickvault received it
    source: Source = Source.WS

    def __post_init__(self) -> None:
        """Refuse a trade that breaks an invariant (raise :class:`InvalidTick`)."""
        try:
            if (
                MIN_TIME_US <= self.trade_time <= MAX_TIME_US
                and MIN_TIME_US <= self.event_time <= MAX_TIME_US
                and 0 <= self.received_at <= MAX_TIME_US
                and 0 <= self.trade_id <= MAX_TRADE_ID
                and _decimal(self.price) is not None
                and _decimal(self.quantity) is not None
                and is_name(self.symbol)
            ):
                return
        except TypeError:  # a field of the wrong type: say which below
            pass
        raise InvalidTick(_why_invalid(self))

    @property
    def trade_datetime(self) -> datetime:
        """Return the trade time as an aware UTC datetime."""
        return us_to_datetime(self.trade_time)


def _why_invalid(tick: Tick) -> str:
    """Return what is wrong with a trade that failed its invariants."""
    if not (isinstance(tick.symbol, str) and is_symbol(tick.symbol)):
        return f"symbol {tick.symbol!r} is not a Binance symbol name tickvault can store"
    if not (type(tick.trade_id) is int and 0 <= tick.trade_id <= MAX_TRADE_ID):
        return f"trade id {tick.trade_id!r} is out of range"
    for name in ("price", "quantity"):
        text = getattr(tick, name)
        if not (isinstance(text, str) and is_decimal_string(text)):
            return f"{name} {text!r} is not a plain decimal string"
    for name in ("trade_time", "event_time"):
        value = getattr(tick, name)
        if not (type(value) is int and is_plausible_time_us(value)):
            return f"{name} {value!r} is not a plausible epoch-microsecond time"
    if not (type(tick.received_at) is int and 0 <= tick.received_at <= MAX_TIME_US):
        return f"received_at {tick.received_at!r} is not an epoch-microsecond time before 2100"
    return "invalid trade"


def is_decimal_string(text: str) -> bool:
    """Return whether *text* is a plain non-negative decimal like Binance's ``"61837.63000000"``."""
    return _DECIMAL.fullmatch(text) is not None


def is_symbol(text: str) -> bool:
    """Return whether *text* is a symbol name (the rule is :func:`tickvault.symbols.is_name`)."""
    return is_name(text)


def is_plausible_time_us(value: int) -> bool:
    """Return whether *value* is an epoch-µs time within tickvault's accepted span."""
    return MIN_TIME_US <= value <= MAX_TIME_US


MS_BELOW = 100_000_000_000_000  # an epoch time below this is in milliseconds (before 5138)


def to_us(value: int) -> int:
    """Return an epoch time sent in ms or µs as epoch µs."""
    return value * 1000 if value < MS_BELOW else value


def us_to_datetime(us: int) -> datetime:
    """Convert epoch microseconds to an aware UTC datetime, exactly."""
    return EPOCH + timedelta(microseconds=us)


def datetime_to_us(dt: datetime) -> int:
    """Convert an aware datetime to epoch microseconds, exactly."""
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_ms(us: int) -> str:
    """Format epoch µs as ISO 8601 UTC with milliseconds and a ``Z`` (the API's time format)."""
    second, within = divmod(us, 1_000_000)
    return f"{_iso_second(second)}{within // 1000:03d}Z"


@lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    """Return ``YYYY-MM-DDTHH:MM:SS.`` of an epoch second: a page's trades share a few, and
    strftime was most of a history page's formatting time."""
    return us_to_datetime(second * 1_000_000).strftime("%Y-%m-%dT%H:%M:%S.")
