"""``make chaos`` lists as silent only the auditor's holes no collector recorded: a hole
inside collector gaps still open when the auditor found it (a backfill cut short by a stop)
was recorded; one inside a gap the collector had already closed was not."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta

from tests.support.paths import REPO_ROOT

# bench/ is no package; load its module alone (bench/ on sys.path would shadow test modules)
_spec = importlib.util.spec_from_file_location("chaos_check", REPO_ROOT / "bench/chaos_check.py")
assert _spec is not None and _spec.loader is not None
chaos_check = importlib.util.module_from_spec(_spec)
sys.modules["chaos_check"] = chaos_check  # its dataclasses look their module up
_spec.loader.exec_module(chaos_check)
GapRow, unrecorded = chaos_check.GapRow, chaos_check.unrecorded

FOUND = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # when the auditor found its holes
AFTER = FOUND + timedelta(seconds=3)  # the auditor closes the collector gaps it refilled
BEFORE = FOUND - timedelta(seconds=30)


def hole(first: int, last: int) -> GapRow:
    return GapRow("auditor", "BTCUSDT", first, last, FOUND, AFTER)


def gap(first: int, last: int, closed: datetime | None, symbol: str = "BTCUSDT") -> GapRow:
    return GapRow("collector", symbol, first, last, BEFORE, closed)


def test_a_hole_inside_open_collector_gaps_was_recorded() -> None:
    rows = [
        gap(100, 500, AFTER),  # open until the auditor closed it: its tail is the hole
        hole(300, 500),
        gap(600, 650, None),  # two adjoining gaps, still open
        gap(651, 700, AFTER),
        hole(620, 690),
    ]
    assert unrecorded(rows) == []


def test_a_hole_the_collector_closed_over_or_never_saw_is_silent() -> None:
    closed_over = hole(300, 500)
    partly = hole(590, 610)
    elsewhere = hole(800, 810)
    other_symbol = hole(900, 910)
    rows = [
        gap(100, 500, BEFORE),  # the collector closed it filled before the hole was found
        closed_over,
        gap(600, 700, None),
        partly,
        elsewhere,
        gap(900, 910, None, symbol="ETHUSDT"),
        other_symbol,
    ]
    assert unrecorded(rows) == [closed_over, partly, elsewhere, other_symbol]
