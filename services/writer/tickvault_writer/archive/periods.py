"""Which archive files cover a range of days (pure): names, URLs, months and days.

Whole months that have ended before the current one come as one monthly file, the rest as
daily files; a monthly file the archive does not have is replaced by its daily files
(:func:`days_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tickvault.tick import datetime_to_us


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One file of the archive: a symbol's day or month of trades."""

    symbol: str
    start: date
    end: date  # exclusive
    monthly: bool

    @property
    def period(self) -> str:
        """Return ``YYYY-MM`` (monthly) or ``YYYY-MM-DD`` (daily)."""
        return self.start.strftime("%Y-%m" if self.monthly else "%Y-%m-%d")

    @property
    def name(self) -> str:
        """Return the zip's file name."""
        return f"{self.symbol}-trades-{self.period}.zip"

    def url(self, base: str) -> str:
        """Return the zip's URL under the archive's *base* URL."""
        kind = "monthly" if self.monthly else "daily"
        return f"{base.rstrip('/')}/data/spot/{kind}/trades/{self.symbol}/{self.name}"

    def bounds_us(self) -> tuple[int, int]:
        """Return the file's span as epoch µs, ``[start, end)``."""
        return day_us(self.start), day_us(self.end)


def day_us(day: date) -> int:
    """Return midnight UTC of *day* as epoch µs."""
    return datetime_to_us(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def plan(symbol: str, first: date, last: date, today: date) -> list[ArchiveFile]:
    """Return the files covering *first*..*last* (inclusive), oldest first."""
    files: list[ArchiveFile] = []
    this_month = today.replace(day=1)
    day = first
    while day <= last:
        month_end = _next_month(day)
        if day.day == 1 and month_end - timedelta(days=1) <= last and month_end <= this_month:
            files.append(ArchiveFile(symbol, day, month_end, True))
            day = month_end
        else:
            files.append(ArchiveFile(symbol, day, day + timedelta(days=1), False))
            day += timedelta(days=1)
    return files


def days_of(month: ArchiveFile) -> list[ArchiveFile]:
    """Return the daily files of a monthly one."""
    days = (month.end - month.start).days
    return [
        ArchiveFile(
            month.symbol, month.start + timedelta(days=i), month.start + timedelta(i + 1), False
        )
        for i in range(days)
    ]
