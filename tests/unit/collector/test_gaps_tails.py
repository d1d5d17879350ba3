"""Tail checks: a ticker ahead of capture becomes a gap only once no frame can be in flight."""

from __future__ import annotations

from tickvault_collector.gaps.sequencer import Sequencer
from tickvault_collector.gaps.tails import LEAD_US, FeedClock, Tails
from tickvault_collector.tickers import TickerRow

S = 1_000_000  # one second in µs
T0 = 1_800_000_000 * S


def _tails(start: dict[str, int] | None = None) -> tuple[Tails, Sequencer]:
    seq = Sequencer(start or {})
    return Tails(seq, grace_s=5, patience_s=60), seq


def test_a_symbol_behind_waits_until_its_feed_passes_the_tickers_time() -> None:
    tails, seq = _tails({"A": 100})
    clock = tails.clocks["A"] = FeedClock(event_us=T0, received_us=T0)
    assert tails.observe(TickerRow("A", 90, 105, T0), T0) is None
    assert len(tails) == 1
    clock.event_us, clock.received_us = T0 + LEAD_US - 1, T0 + S  # frames still arriving
    assert tails.due(T0 + 2 * S) == []
    clock.event_us = T0 + LEAD_US  # the feed is past the ticker: 101..105 were lost
    assert tails.due(T0 + 2 * S) == [("A", 101, 105)]
    assert seq.last("A") == 105 and len(tails) == 0


def test_frames_that_arrive_late_settle_the_symbol_without_a_gap() -> None:
    tails, seq = _tails({"A": 100})
    tails.observe(TickerRow("A", 90, 103, T0), T0)
    for trade_id in (101, 102, 103):
        seq.offer("A", trade_id)
    assert tails.due(T0 + 100 * S) == [] and len(tails) == 0


def test_an_idle_or_cut_connection_lets_the_grace_decide() -> None:
    tails, _ = _tails({"A": 100, "B": 7})
    tails.clocks["A"] = FeedClock(event_us=T0 - 60 * S, received_us=T0 - 60 * S)  # idle
    tails.observe(TickerRow("A", 1, 101, T0), T0)
    tails.observe(TickerRow("B", 1, 8, T0), T0)  # unsubscribed: no connection at all
    assert tails.due(T0 + 4 * S) == []
    assert sorted(tails.due(T0 + 5 * S)) == [("A", 101, 101), ("B", 8, 8)]


def test_a_busy_feed_that_never_catches_up_is_a_gap_after_the_patience() -> None:
    tails, _ = _tails({"A": 100})
    clock = tails.clocks["A"] = FeedClock(event_us=T0 - 30 * S, received_us=T0)
    tails.observe(TickerRow("A", 1, 110, T0), T0)
    clock.received_us = T0 + 59 * S  # frames keep arriving, all of them older than the ticker
    assert tails.due(T0 + 59 * S) == []
    assert tails.due(T0 + 60 * S) == [("A", 101, 110)]


def test_while_readers_are_paused_nothing_is_due_and_the_wait_starts_again() -> None:
    tails, _ = _tails({"A": 100})
    tails.observe(TickerRow("A", 1, 101, T0), T0)
    assert tails.due(T0 + 10 * S, hold=True) == []
    assert tails.due(T0 + 14 * S) == []
    assert tails.due(T0 + 15 * S) == [("A", 101, 101)]


def test_the_newest_ticker_row_is_kept_and_symbols_without_a_position_are_left_alone() -> None:
    tails, _ = _tails({"A": 100})
    tails.observe(TickerRow("A", 1, 101, T0), T0)
    tails.observe(TickerRow("A", 1, 104, T0 + S), T0 + S)
    tails.observe(TickerRow("A", 1, 102, T0 + 2 * S), T0 + 2 * S)
    tails.observe(TickerRow("NEW", 1, 50, T0), T0)  # first trade seen decides, as at start
    tails.observe(TickerRow("Q", -1, -1, T0), T0)
    assert tails.due(T0 + 10 * S) == [("A", 101, 104)]
    tails.observe(TickerRow("A", 1, 110, T0), T0)
    tails.forget("A")
    assert len(tails) == 0


def test_a_symbol_tracked_after_start_starts_at_the_first_id_of_its_window() -> None:
    tails, seq = _tails()
    tails.await_first("NEW")
    assert tails.observe(TickerRow("NEW", 500, 503, T0), T0) is None
    assert seq.last("NEW") == 499  # ids 500..503 are missing until frames or backfill
    assert tails.due(T0 + 5 * S) == [("NEW", 500, 503)]


def test_ids_before_the_first_frame_of_a_new_listing_are_missed_for_sure() -> None:
    tails, seq = _tails()
    tails.await_first("NEW")
    seq.offer("NEW", 520)  # the WebSocket delivered before any ticker named it
    seq.offer("NEW", 521)
    assert tails.observe(TickerRow("NEW", 500, 521, T0), T0) == (500, 519)
    assert tails.observe(TickerRow("NEW", 500, 521, T0), T0) is None  # only once
    tails.await_first("OLD")
    seq.offer("OLD", 7)
    assert tails.observe(TickerRow("OLD", 9, 9, T0), T0) is None


def test_a_symbol_with_a_position_never_awaits_a_first_id() -> None:
    tails, seq = _tails({"BACK": 40})
    tails.await_first("BACK")
    assert tails.observe(TickerRow("BACK", 1, 40, T0), T0) is None
    assert seq.last("BACK") == 40
