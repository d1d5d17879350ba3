"""Synthetic trade ids that only ever grow, across restarts too (pure).

Binance numbers each symbol's trades densely. A synthetic symbol does the same, but its first
id comes from the wall clock at :data:`IDS_PER_SECOND` (one id per 100 µs), and no trade ever
happens before the clock has reached its id (:func:`not_before_us`). So every id a replay
printed is at most :func:`clock_id` of the moment it printed it, and a replay started later
begins above all of them: a second ``tickvault up --replay`` on the first run's database
captures the new trades instead of taking them for duplicates. The bound costs nothing at
realistic rates (the busiest symbol prints a few hundred trades a second, the clock grants ten
thousand ids a second); only a burst faster than the clock is spread out by a few 100 µs.

A fixed first id (``--first-id``, tests) is far below the clock, so the bound never moves a
trade then.
"""

from __future__ import annotations

IDS_PER_SECOND = 10_000
_US_PER_ID = 1_000_000 // IDS_PER_SECOND


def clock_id(time_us: int) -> int:
    """Return the highest trade id the clock grants at *time_us* (epoch microseconds)."""
    return time_us // _US_PER_ID


def first_id_at(time_us: int) -> int:
    """Return the first id of a symbol that starts trading at *time_us*."""
    return clock_id(time_us) + 1


def not_before_us(trade_id: int) -> int:
    """Return the earliest time a trade with *trade_id* may happen."""
    return trade_id * _US_PER_ID
