"""The append script's bookkeeping (pure): stream ids and the script's reply."""

from __future__ import annotations

from tickvault_collector.append import Appended, parse_id


def test_stream_ids_parse_and_order_numerically() -> None:
    assert parse_id(b"1723161600000-12") == (1723161600000, 12)
    assert parse_id("9-1") < parse_id("10-0")  # type: ignore[operator]
    assert parse_id(b"") is None and parse_id("x-1") is None and parse_id("12") is None


def test_the_reply_says_full_gone_and_lost() -> None:
    ok = Appended.from_reply([1, b"5-0", 10, b"3-0", 0, 0])
    assert (ok.full, ok.last_id, ok.backlog, ok.safe, ok.damaged) == (
        False,
        b"5-0",
        10,
        (3, 0),
        False,
    )
    full = Appended.from_reply([0, b"", 2000, b"0-0", b"2", 1])
    assert full.full and full.safe is None and full.lost_entries == 2 and full.gone and full.damaged
