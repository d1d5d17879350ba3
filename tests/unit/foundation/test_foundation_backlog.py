"""The stream bound's bookkeeping (pure): stream ids, the append script's reply, the ledger."""

from __future__ import annotations

from tickvault.backlog import MAX_SNAPSHOTS, Appended, Ledger, parse_id


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


def test_a_snapshot_is_confirmed_only_once_every_group_passed_it() -> None:
    ledger = Ledger()
    ledger.start("BTCUSDT", 99)
    ledger.appended(b"10-0", {"BTCUSDT": 150}, now=0.0)
    ledger.appended(b"11-0", {"BTCUSDT": 160}, now=0.1)  # too soon: no second snapshot
    ledger.appended(b"20-0", {"BTCUSDT": 200}, now=1.0)
    assert ledger.confirmed("BTCUSDT") == 99
    ledger.acknowledged((10, 0))  # entries older than 10-0 acked: not the snapshot's own
    assert ledger.confirmed("BTCUSDT") == 99
    ledger.acknowledged((10, 1))
    assert ledger.confirmed("BTCUSDT") == 150
    ledger.acknowledged(None)
    assert ledger.confirmed("BTCUSDT") == 150 and len(ledger) == 1
    ledger.lost()  # the unconfirmed snapshot's entries are gone
    ledger.acknowledged((99, 0))
    assert ledger.confirmed("BTCUSDT") == 150 and ledger.last_appended == b""


def test_unconfirmed_snapshots_are_bounded() -> None:
    ledger = Ledger()
    for i in range(MAX_SNAPSHOTS + 50):
        ledger.appended(b"%d-0" % (i + 1), {"BTCUSDT": i}, now=float(i))
    assert len(ledger) == MAX_SNAPSHOTS
    ledger.acknowledged((10**9, 0))  # the oldest ones confirm: it never claims more than seen
    assert ledger.confirmed("BTCUSDT") == MAX_SNAPSHOTS - 1
