"""Decoding stream entries into batches: ticks, gap records, dead letters, merging, splitting."""

from __future__ import annotations

import pytest

from tickvault.codec import GapFinder, GapRecord, GapStatus, to_fields
from tickvault.tick import Source, Tick
from tickvault_writer.batch import (
    Batch,
    decode_entries,
    latest_by_symbol,
    merge_gaps,
    split,
)

T0 = 1_723_161_255_342_000  # the first BTCUSDT trade of the recording, in µs


def tick(trade_id: int = 3735683259, symbol: str = "BTCUSDT", **kw: object) -> Tick:
    values: dict[str, object] = {
        "symbol": symbol,
        "trade_id": trade_id,
        "price": "61837.63000000",
        "quantity": "0.02000000",
        "trade_time": T0,
        "event_time": T0 + 1000,
        "is_buyer_maker": False,
        "received_at": T0 + 5000,
        "source": Source.WS,
    }
    values.update(kw)
    return Tick(**values)  # type: ignore[arg-type]


def gap(first: int, last: int, status: GapStatus, detected: int = T0) -> GapRecord:
    return GapRecord("BTCUSDT", first, last, status, detected, None, GapFinder.COLLECTOR)


def test_ticks_and_gaps_decode_in_entry_order_with_their_ids() -> None:
    g = gap(5, 9, GapStatus.DETECTED)
    batch = decode_entries(
        [(b"1-0", to_fields(tick(1))), (b"2-0", to_fields(g)), (b"3-0", to_fields(tick(2)))]
    )
    assert batch.ids == (b"1-0", b"2-0", b"3-0")
    assert [t.trade_id for t in batch.ticks] == [1, 2]
    assert batch.tick_ids == (b"1-0", b"3-0")
    assert batch.gaps == (g,)
    assert batch.gap_ids == (b"2-0",)
    assert batch.dead == ()


def test_undecodable_entry_becomes_a_dead_letter_with_its_reason() -> None:
    bad = {b"t2": b"BTCUSDT|42"}
    batch = decode_entries([(b"7-1", bad), (b"7-2", {b"t9": b"x"}), (b"7-3", to_fields(tick()))])
    assert batch.ids == (b"7-1", b"7-2", b"7-3")
    assert [d.entry_id for d in batch.dead] == [b"7-1", b"7-2"]
    assert batch.dead[0].fields == bad
    assert "malformed trade entry" in batch.dead[0].reason
    assert "layout version" in batch.dead[1].reason
    assert len(batch.ticks) == 1


def test_entry_trimmed_from_the_stream_is_only_acknowledged() -> None:
    batch = decode_entries([(b"1-0", None)])
    assert batch.ids == (b"1-0",)
    assert (batch.ticks, batch.gaps, batch.dead) == ((), (), ())
    assert not batch.has_rows


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("trade_time", 1_000, "trade_time 1000 is not a plausible"),
        ("received_at", 5_000_000_000_000_000, "received_at"),
        ("trade_id", 2**63, "trade id 9223372036854775808 is out of range"),
    ],
)
def test_tick_with_implausible_time_is_dead_lettered_not_stored(
    field: str, value: int, reason: str
) -> None:
    # Built by hand: no Tick with such a value can exist to be encoded.
    entry = to_fields(tick()).copy()
    parts = entry[b"t2"].split(b"|")
    parts[{"trade_id": 1, "trade_time": 4, "received_at": 6}[field]] = b"%d" % value
    entry[b"t2"] = b"|".join(parts)
    batch = decode_entries([(b"1-0", entry)])
    assert batch.ticks == ()
    assert batch.dead[0].entry_id == b"1-0"
    assert reason in batch.dead[0].reason


def test_latest_is_the_highest_trade_id_per_symbol_whatever_the_order() -> None:
    ticks = [tick(5), tick(9), tick(7), tick(3, "ETHUSDT"), tick(1, "ETHUSDT")]
    latest = latest_by_symbol(ticks)
    assert {s: t.trade_id for s, t in latest.items()} == {"BTCUSDT": 9, "ETHUSDT": 3}


def test_gap_records_of_one_range_merge_to_the_most_advanced_status() -> None:
    merged = merge_gaps(
        [
            gap(10, 12, GapStatus.FILLED, T0 + 5),
            gap(1, 3, GapStatus.DETECTED),
            gap(10, 12, GapStatus.DETECTED, T0),
            gap(10, 12, GapStatus.UNFILLABLE, T0 + 9),
        ]
    )
    assert [(g.first_id, g.status, g.detected_at) for g in merged] == [
        (1, GapStatus.DETECTED, T0),
        (10, GapStatus.FILLED, T0),
    ]


def test_split_halves_ticks_then_separates_gaps_then_stops_at_one_row() -> None:
    g1, g2 = gap(1, 2, GapStatus.DETECTED), gap(3, 4, GapStatus.DETECTED)
    batch = Batch((), (tick(1), tick(2), tick(3)), (b"a", b"b", b"c"), (g1,), (b"g",), ())
    halves = split(batch)
    assert halves is not None
    first, second = halves
    assert (first.tick_ids, first.gap_ids) == ((b"a",), (b"g",))
    assert (second.tick_ids, second.gap_ids) == ((b"b", b"c"), ())
    halves = split(first)
    assert halves is not None
    assert (halves[0].tick_ids, halves[0].gap_ids) == ((b"a",), ())
    assert (halves[1].tick_ids, halves[1].gap_ids) == ((), (b"g",))
    gaps_only = split(Batch((), (), (), (g1, g2), (b"g1", b"g2"), ()))
    assert gaps_only is not None and gaps_only[1].gaps == (g2,)
    assert split(halves[0]) is None
