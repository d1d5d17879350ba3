"""Trade-id continuity: duplicates dropped, gaps found, the backfill cap applied."""

from __future__ import annotations

from tests.support.paths import BTC_TRADES
from tests.support.recordings import read_trades

from tickvault_collector.gaps.sequencer import ACCEPT, DUPLICATE, GAP, Sequencer, cap_gap


def test_the_real_recording_is_accepted_without_gaps() -> None:
    seq = Sequencer()
    verdicts = {seq.offer(t.symbol, t.trade_id) for t in read_trades(BTC_TRADES)}
    assert verdicts == {ACCEPT}
    assert seq.last("BTCUSDT") == 3735703162


def test_duplicates_and_older_ids_are_dropped() -> None:
    seq = Sequencer({"BTCUSDT": 10})
    assert seq.offer("BTCUSDT", 10) == DUPLICATE
    assert seq.offer("BTCUSDT", 3) == DUPLICATE
    assert seq.offer("BTCUSDT", 11) == ACCEPT
    assert seq.last("BTCUSDT") == 11


def test_a_jump_reports_the_missing_range_and_accepts_the_trade() -> None:
    seq = Sequencer({"ETHUSDT": 100})
    assert seq.offer("ETHUSDT", 105) == GAP
    assert (seq.gap_first, 105 - 1) == (101, 104)
    assert seq.offer("ETHUSDT", 106) == ACCEPT
    assert seq.offer("ETHUSDT", 103) == DUPLICATE


def test_symbols_are_sequenced_independently() -> None:
    seq = Sequencer({"A": 1})
    assert seq.offer("B", 500) == ACCEPT
    assert seq.offer("A", 2) == ACCEPT
    assert (seq.last("A"), seq.last("B")) == (2, 500)


def test_advance_to_the_exchange_latest_returns_the_skipped_tail() -> None:
    seq = Sequencer({"A": 10})
    assert seq.advance_to("A", 10) is None
    assert seq.advance_to("A", 14) == (11, 14)
    assert seq.offer("A", 13) == DUPLICATE
    assert seq.offer("A", 15) == ACCEPT
    assert Sequencer().advance_to("A", 99) is None


def test_cap_keeps_the_newest_ids_and_splits_off_the_rest() -> None:
    assert cap_gap(1, 10, 100) == (None, (1, 10))
    assert cap_gap(1, 10, 4) == ((1, 6), (7, 10))
    assert cap_gap(1, 10, 0) == ((1, 10), (11, 10))


def test_a_symbol_starts_once_and_remembers_its_first_accepted_id() -> None:
    seq = Sequencer({"A": 10})
    assert not seq.start("A", 3)
    assert seq.start("B", 99) and seq.last("B") == 99 and seq.first("B") is None
    assert seq.offer("C", 7) == ACCEPT and seq.offer("C", 8) == ACCEPT
    assert (seq.first("C"), seq.first("A")) == (7, None)


def test_a_jump_right_after_a_resume_point_says_so_once() -> None:
    seq = Sequencer()
    assert seq.start("BTCUSDT", 100, resumed=True)
    assert seq.offer("BTCUSDT", 100) == DUPLICATE  # a duplicate leaves it resumed
    assert seq.offer("BTCUSDT", 110) == GAP
    assert (seq.gap_first, seq.gap_resumed) == (101, True)
    assert seq.offer("BTCUSDT", 120) == GAP
    assert seq.gap_resumed is False  # the live feed's own jump
    assert seq.start("ETHUSDT", 5, resumed=True)
    assert seq.offer("ETHUSDT", 6) == ACCEPT  # the next id: no longer resumed
    assert seq.offer("ETHUSDT", 9) == GAP and seq.gap_resumed is False
    assert not seq.start("ETHUSDT", 1, resumed=True)  # a position is kept
