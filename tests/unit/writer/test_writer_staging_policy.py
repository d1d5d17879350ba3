"""The COPY rows the writer stages, and when its chores are due."""

from __future__ import annotations

from datetime import UTC, datetime

from tickvault.tick import Source, Tick
from tickvault_writer.chores import Every
from tickvault_writer.staging import copy_rows, hour_instants, hours_of

T0 = 1_723_161_255_342_000


def test_copy_rows_keep_binance_strings_and_integer_microseconds() -> None:
    ticks = [
        Tick(
            "BTCUSDT",
            3735683259,
            "61837.63000000",
            "0.02000000",
            T0,
            T0 + 1,
            False,
            T0 + 2,
            Source.WS,
        ),
        Tick(
            "ETHUSDT", 1520538925, "2683.80000000", "0.00200000", T0, T0, True, T0, Source.BACKFILL
        ),
    ]
    assert copy_rows(ticks) == (
        b"BTCUSDT\t3735683259\t61837.63000000\t0.02000000\t1723161255342000\t1723161255342001"
        b"\tf\t1723161255342002\n"
        b"ETHUSDT\t1520538925\t2683.80000000\t0.00200000\t1723161255342000\t1723161255342000"
        b"\tt\t1723161255342000\n"
    )


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
