"""The hours a batch touches, and when the writer's upkeep tasks are due."""

from __future__ import annotations

from tickvault.throttle import Throttle
from tickvault.tick import Source, Tick, us_to_datetime
from tickvault_writer.store import hours_of

T0 = 1_723_161_255_342_000


def test_hours_of_ticks_are_floored_to_utc_hours() -> None:
    ticks = [
        Tick("BTCUSDT", i, "1", "1", t, t, False, t, Source.WS)
        for i, t in enumerate([T0, T0 + 10, T0 + 3_600_000_000])
    ]
    assert sorted(us_to_datetime(h).isoformat() for h in hours_of(ticks)) == [
        "2024-08-08T23:00:00+00:00",
        "2024-08-09T00:00:00+00:00",
    ]


def test_a_periodic_task_is_due_at_once_then_once_per_interval() -> None:
    now = [100.0]
    every = Throttle(5.0, clock=lambda: now[0])
    assert every.due() is True
    assert every.due() is False
    now[0] = 104.9
    assert every.due() is False
    now[0] = 105.0
    assert every.due() is True
