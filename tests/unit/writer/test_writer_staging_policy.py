"""The hours a batch touches, and when the writer's chores are due."""

from __future__ import annotations

from datetime import UTC, datetime

from tickvault.tick import Source, Tick
from tickvault_writer.chores import Every
from tickvault_writer.staging import hour_instants, hours_of

T0 = 1_723_161_255_342_000


def test_hours_of_ticks_are_floored_to_utc_hours() -> None:
    ticks = [
        Tick("BTCUSDT", i, "1", "1", t, t, False, t, Source.WS)
        for i, t in enumerate([T0, T0 + 10, T0 + 3_600_000_000])
    ]
    assert hour_instants(hours_of(ticks)) == [
        datetime(2024, 8, 8, 23, tzinfo=UTC),
        datetime(2024, 8, 9, 0, tzinfo=UTC),
    ]


def test_every_is_due_at_once_then_once_per_interval() -> None:
    now = [100.0]
    every = Every(5.0, lambda: now[0])
    assert every.due() is True
    assert every.due() is False
    now[0] = 104.9
    assert every.due() is False
    now[0] = 105.0
    assert every.due() is True
