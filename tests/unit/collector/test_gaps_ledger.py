"""A shard's ledger confirms resume marks once every group acknowledged them (pure)."""

from __future__ import annotations

from tickvault_collector.gaps.ledger import MAX_SNAPSHOTS, Ledger


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
    assert ledger.confirmed("BTCUSDT") == 150


def test_unconfirmed_snapshots_are_bounded() -> None:
    ledger = Ledger()
    for i in range(MAX_SNAPSHOTS + 50):
        ledger.appended(b"%d-0" % (i + 1), {"BTCUSDT": i}, now=float(i))
    assert len(ledger) == MAX_SNAPSHOTS
    ledger.acknowledged((10**9, 0))  # the oldest ones confirm: it never claims more than seen
    assert ledger.confirmed("BTCUSDT") == MAX_SNAPSHOTS - 1
