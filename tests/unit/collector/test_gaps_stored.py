"""An open ``trade_gaps`` row reads as one type by one rule, whoever reads it."""

from __future__ import annotations

from datetime import UTC, datetime

from tickvault.codec import GapFinder, GapReason, GapStatus
from tickvault_collector.gaps.stored import reopenable, stored_gap

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
AT_US = 1_796_644_800_000_000


def test_a_row_reads_with_its_own_finder_and_reason() -> None:
    gap = stored_gap("BTCUSDT", 10, 20, "detected", "collector", AT, "tail")
    assert (gap.symbol, gap.first_id, gap.last_id) == ("BTCUSDT", 10, 20)
    assert (gap.status, gap.found_by, gap.reason) == (
        GapStatus.DETECTED,
        GapFinder.COLLECTOR,
        GapReason.TAIL,
    )
    assert gap.detected_at == AT_US
    record = gap.record(GapStatus.FILLED, AT_US + 5)
    assert (record.first_id, record.last_id, record.found_by, record.reason) == (
        10,
        20,
        GapFinder.COLLECTOR,
        GapReason.TAIL,
    )
    assert (record.detected_at, record.filled_at) == (AT_US, AT_US + 5)


def test_an_unknown_reason_is_the_finders_default_and_an_unknown_finder_the_auditor() -> None:
    collector = stored_gap("A", 1, 2, "detected", "collector", AT, "from_a_newer_version")
    auditor = stored_gap("A", 3, 4, "unfillable", "auditor", AT, "from_a_newer_version")
    by_hand = stored_gap("A", 5, 6, "detected", "someone", AT, "also_unknown")
    assert collector.reason is GapReason.WS_GAP
    assert auditor.reason is GapReason.AUDIT
    assert (by_hand.found_by, by_hand.reason) == (GapFinder.AUDITOR, GapReason.AUDIT)


def test_the_collector_reopens_only_its_own_detected_gaps() -> None:
    rows = [
        stored_gap("A", 1, 2, "detected", "collector", AT, "ws_gap"),
        stored_gap("A", 3, 4, "unfillable", "collector", AT, "ws_gap"),
        stored_gap("A", 5, 6, "detected", "auditor", AT, "audit"),
    ]
    assert [(g.first_id, g.last_id) for g in reopenable(rows)] == [(1, 2)]
