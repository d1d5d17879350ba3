"""Encode ticks as the rows ``COPY`` loads into the staging table (text format).

Pure. Times travel as integer epoch microseconds and become ``timestamptz`` inside
PostgreSQL, exactly; prices and quantities travel as the exact strings Binance sent. Every
field was checked when its :class:`~tickvault.tick.Tick` was built, so none can hold a tab, a
newline or a backslash that the text format would need to escape.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tickvault.tick import Tick, us_to_datetime

STAGING_COLUMNS = ("symbol", "trade_id", "price", "quantity", "t", "e", "m", "r")
US_PER_HOUR = 3_600_000_000


def copy_rows(ticks: Iterable[Tick]) -> bytes:
    """Return *ticks* as ``COPY ... FROM STDIN`` text-format rows."""
    return "".join(
        [
            f"{t.symbol}\t{t.trade_id}\t{t.price}\t{t.quantity}\t{t.trade_time}\t"
            f"{t.event_time}\t{'t' if t.is_buyer_maker else 'f'}\t{t.received_at}\n"
            for t in ticks
        ]
    ).encode("ascii")


def hours_of(ticks: Iterable[Tick]) -> set[int]:
    """Return the distinct hours (epoch µs floored to the hour) the ticks' trade times fall in."""
    return {t.trade_time - t.trade_time % US_PER_HOUR for t in ticks}


def hour_instants(hours: Iterable[int]) -> list[datetime]:
    """Return the hours as aware UTC datetimes."""
    return [us_to_datetime(h) for h in sorted(hours)]
