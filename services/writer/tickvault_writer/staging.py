"""The hours a batch of ticks touches, for making sure their partitions exist (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tickvault.tick import Tick, us_to_datetime

US_PER_HOUR = 3_600_000_000


def hours_of(ticks: Iterable[Tick]) -> set[int]:
    """Return the distinct hours (epoch µs floored to the hour) the ticks' trade times fall in."""
    return {t.trade_time - t.trade_time % US_PER_HOUR for t in ticks}


def hour_instants(hours: Iterable[int]) -> list[datetime]:
    """Return the hours as aware UTC datetimes."""
    return [us_to_datetime(h) for h in sorted(hours)]
