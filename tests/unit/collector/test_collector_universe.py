"""The exchange's symbol list: reading exchangeInfo, and what each answer changes."""

from __future__ import annotations

import gzip
import json

import pytest
from tests.support.paths import FULL_EXCHANGE_INFO

from tickvault.symbols import Selection, Status
from tickvault_collector.universe import BadUniverse, Tracker, Universe, parse_universe


def _body(*entries: object) -> bytes:
    return json.dumps({"timezone": "UTC", "symbols": list(entries)}).encode()


def _tracker(*terms: str) -> Tracker:
    return Tracker(Selection.parse(terms))


def test_the_real_full_exchange_info_is_read_whole() -> None:
    universe = parse_universe(gzip.decompress(FULL_EXCHANGE_INFO.read_bytes()))
    assert len(universe.statuses) == 1695
    assert sum(s == "TRADING" for s in universe.statuses.values()) == 1262
    assert sum(s == "BREAK" for s in universe.statuses.values()) == 433
    assert (universe.bad_entries, universe.unusable, universe.partial) == (0, {}, False)
    changes = _tracker("ALL").apply(universe, 1)
    assert len(changes.started) == 1262 and "BTCUSDT" in changes.started


def test_unreadable_entries_and_unusable_names_are_set_aside_and_the_rest_kept() -> None:
    universe = parse_universe(
        _body(
            {"symbol": "BTCUSDT", "status": "TRADING", "filters": []},
            {"symbol": "ethusdt", "status": "TRADING"},
            {"symbol": "这是测试币456", "status": "TRADING"},
            {"symbol": "BAD\u200bUSDT", "status": "TRADING"},
            {"symbol": "BNBUSDT"},
            {"symbol": 12.5, "status": None},
            "not an object",
            {"symbol": "XRPUSDT", "status": "HALT"},
        )
    )
    assert universe.statuses == {
        "BTCUSDT": "TRADING",
        "这是测试币456": "TRADING",
        "XRPUSDT": "HALT",
    }
    assert universe.unusable == {
        "ethusdt": "holds a lower-case ASCII letter",
        "BAD\u200bUSDT": "holds the character U+200B, not allowed in a symbol name",
    }
    assert universe.bad_entries == 3 and universe.partial


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502</html>", b'{"symbols":[{"symbol":"BTC', _body(), b'{"symbols":{}}', b"[]"],
)
def test_an_answer_without_a_usable_symbol_is_refused(body: bytes) -> None:
    with pytest.raises(BadUniverse):
        parse_universe(body)


def test_listings_halts_and_delistings_start_and_stop_symbols_and_returns_resume() -> None:
    tracker = _tracker("ALL", "TYPOUSDT")
    first = tracker.apply(Universe({"A": "TRADING", "B": "TRADING", "C": "BREAK"}), 10)
    assert (first.started, first.unlisted) == (["A", "B"], ["TYPOUSDT"])
    assert tracker.statuses == {
        "TYPOUSDT": Status.UNLISTED,
        "A": Status.TRADING,
        "B": Status.TRADING,
    }

    second = tracker.apply(Universe({"A": "HALT", "C": "TRADING", "NEW": "TRADING"}), 20)
    assert sorted(second.started) == ["C", "NEW"] and sorted(second.new) == ["C", "NEW"]
    assert sorted(second.stopped) == ["A", "B"]
    assert tracker.statuses["A"] is Status.HALT and tracker.statuses["B"] is Status.UNLISTED
    assert second.statuses["B"] == (Status.UNLISTED, 20)
    assert tracker.since["A"] == 20 and tracker.since["TYPOUSDT"] == 10

    third = tracker.apply(Universe({"A": "TRADING", "B": "TRADING", "C": "TRADING"}), 30)
    assert sorted(third.started) == ["A", "B"] and third.new == [] and third.stopped == ["NEW"]
    assert tracker.counts() == {Status.UNLISTED: 2, Status.TRADING: 3}


def test_a_partial_answer_takes_nothing_away() -> None:
    tracker = _tracker("ALL", "NAMED")
    tracker.apply(Universe({"A": "TRADING", "B": "TRADING", "NAMED": "TRADING"}), 1)
    changes = tracker.apply(Universe({"A": "BREAK"}, bad_entries=2), 2)
    assert changes.stopped == ["A"] and changes.started == []
    assert tracker.statuses == {"NAMED": Status.TRADING, "A": Status.BREAK, "B": Status.TRADING}


def test_a_status_changed_twice_between_refreshes_changes_nothing() -> None:
    tracker = _tracker("*USDT")
    tracker.apply(Universe({"AUSDT": "TRADING", "ABTC": "TRADING"}), 1)
    assert list(tracker.statuses) == ["AUSDT"]
    changes = tracker.apply(Universe({"AUSDT": "TRADING", "ABTC": "TRADING"}), 2)
    assert (changes.started, changes.stopped, changes.statuses) == ([], [], {})
    assert tracker.wants("BUSDT") and not tracker.wants("BBTC")
    assert not _tracker("AUSDT").wants("BUSDT")


def test_an_undocumented_status_is_a_halt_and_cancel_only_is_known() -> None:
    tracker = _tracker("A", "B")
    tracker.apply(Universe({"A": "SOMETHING_NEW", "B": "CANCEL_ONLY"}), 1)
    assert tracker.statuses == {"A": Status.HALT, "B": Status.CANCEL_ONLY}
