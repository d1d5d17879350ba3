"""The live feed's gaps open for the right reason, and the resume marks stay below them."""

from __future__ import annotations

from tickvault.codec import GapReason, GapRecord, GapStatus
from tickvault_collector.gaps.live import LiveGaps
from tickvault_collector.metrics import Counts


def _live(cap: int = 1_000_000) -> tuple[LiveGaps, list[GapRecord], Counts]:
    records: list[GapRecord] = []
    counts = Counts()
    live = LiveGaps(set(), counts, records.append, backfill_cap=cap, tail_grace_s=5)
    return live, records, counts


def test_a_jump_after_a_resume_is_reconnect_and_a_later_one_ws_gap() -> None:
    live, records, counts = _live()
    assert live.resume("BTCUSDT", 100)
    for trade_id in (105, 110):
        assert live.sequencer.offer("BTCUSDT", trade_id).name == "GAP"
        live.jumped("BTCUSDT", trade_id)
    assert [(r.first_id, r.last_id, r.reason, r.status) for r in records] == [
        (101, 104, GapReason.RECONNECT, GapStatus.DETECTED),
        (106, 109, GapReason.WS_GAP, GapStatus.DETECTED),
    ]
    assert counts.gaps_detected == 2 and live.opened.is_set()
    assert live.reasons[GapReason.RECONNECT] == live.reasons[GapReason.WS_GAP] == 1
    assert live.marks.compute({"BTCUSDT": 110}) == {"BTCUSDT": 100}  # held below 101


def test_a_gap_beyond_the_cap_is_unfillable_at_once_and_open_ranges_are_not_reopened() -> None:
    live, records, counts = _live(cap=10)
    live.open("ETHUSDT", 1, 30, GapReason.TAIL)
    live.open("ETHUSDT", 26, 35, GapReason.TAIL)  # 26..30 is open already
    assert [(r.first_id, r.last_id, r.status) for r in records] == [
        (1, 20, GapStatus.UNFILLABLE),
        (21, 30, GapStatus.DETECTED),
        (31, 35, GapStatus.DETECTED),
    ]
    assert (counts.gaps_unfillable, counts.gaps_detected) == (1, 2)


def test_a_dropped_run_holds_the_mark_and_opens_when_the_buffer_takes_the_next_tick() -> None:
    live, records, counts = _live()
    live.resume("SOLUSDT", 9)
    for trade_id in (10, 11, 12):
        live.dropped("SOLUSDT", trade_id)
    live.dropped("SOLUSDT", 20)  # not next to the run: the run opens, a new one starts
    assert [(r.first_id, r.last_id, r.reason) for r in records] == [
        (10, 12, GapReason.BUFFER_OVERFLOW)
    ]
    assert live.marks.compute({"SOLUSDT": 21}) == {"SOLUSDT": 9}
    live.taken("SOLUSDT")
    assert (records[-1].first_id, records[-1].last_id) == (20, 20)
    assert live.overflow == {} and counts.overflow == 4
    live.dropped("SOLUSDT", 30)
    live.close_overflow()
    assert (records[-1].first_id, records[-1].last_id) == (30, 30) and live.overflow == {}
