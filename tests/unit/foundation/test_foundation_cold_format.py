"""The cold tier's file format on the real recordings: every price and quantity reads back as
the exact string Binance sent, the checksum sees any change, mixed scales are refused."""

from __future__ import annotations

import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from tests.support.recordings import all_recorded_trades

from tickvault.cold import parquet
from tickvault.cold.location import ColdLocation


def _rows(symbol: str) -> list[tuple[int, Decimal, Decimal, int, bool]]:
    return [
        (
            t.trade_id,
            Decimal(t.price),
            Decimal(t.quantity),
            t.trade_time_ms * 1000,
            t.is_buyer_maker,
        )
        for t in all_recorded_trades()[symbol]
    ]


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_every_recorded_decimal_reads_back_as_the_string_binance_sent(symbol: str) -> None:
    recorded = {t.trade_id: t for t in all_recorded_trades()[symbol]}
    sink = io.BytesIO()
    parquet.write(parquet.table_of(list(reversed(_rows(symbol)))), sink)
    back = pq.read_table(io.BytesIO(sink.getvalue()))  # plain pyarrow, no tickvault code
    assert back.schema.field("price").type.scale == 8
    ids = back["trade_id"].to_pylist()
    assert ids == sorted(recorded)  # sorted by trade id
    for i, price, quantity in zip(
        ids, back["price"].to_pylist(), back["quantity"].to_pylist(), strict=True
    ):
        assert (format(price, "f"), format(quantity, "f")) == (
            recorded[i].price,
            recorded[i].quantity,
        )
    assert len(sink.getvalue()) / len(ids) < 8  # bytes per trade: the stretch goal


def test_the_checksum_changes_with_any_field_and_not_with_the_order() -> None:
    rows = _rows("ETHUSDT")[:500]
    base = parquet.summarize(parquet.table_of(rows))
    assert parquet.summarize(parquet.table_of(list(reversed(rows)))) == base
    i, p, q, t, m = rows[7]
    for changed in (
        (i, p + Decimal("0.01000000"), q, t, m),
        (i, p, q + Decimal("0.00000001"), t, m),
        (i, p, q, t + 1, m),
        (i, p, q, t, not m),
    ):
        other = parquet.summarize(parquet.table_of([*rows[:7], changed, *rows[8:]]))
        assert other.checksum != base.checksum and other.rows == base.rows


def test_merging_keeps_one_row_per_trade_id_the_stored_one_winning() -> None:
    rows = _rows("BTCUSDT")[:1000]
    old = parquet.table_of(rows[:600])
    redelivered = [(i, p, q, t + 5, m) for i, p, q, t, m in rows[500:600]]
    merged = parquet.merge(old, parquet.table_of(redelivered + rows[600:]))
    assert parquet.summarize(merged) == parquet.summarize(parquet.table_of(rows))


def test_prices_with_different_numbers_of_decimals_are_refused() -> None:
    rows = _rows("BTCUSDT")[:3]
    i, _, q, t, m = rows[0]
    with pytest.raises(parquet.ColdFormatError, match="price values carry different"):
        parquet.table_of([*rows, (i + 10**6, Decimal("61837.6"), q, t, m)])


def test_a_file_path_names_its_symbol_and_day_even_for_unusual_symbols() -> None:
    from datetime import date

    from pyarrow import fs

    location = ColdLocation(fs.LocalFileSystem(), "/cold", "file:///cold")
    for symbol in ("BTCUSDT", "我踏马来了USDT", "A/B=C"):
        path = location.relative(location.new_file(symbol, date(2024, 8, 8)))
        assert path.startswith("trades/symbol=") and "/date=2024-08-08/part-" in path
        assert location.day_of_path(path) == (symbol, date(2024, 8, 8))


def _batches(table: parquet.pa.Table, size: int) -> list[parquet.pa.Table]:
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]


def test_streams_merged_in_small_batches_equal_the_whole_merge_and_its_summary() -> None:
    rows = _rows("BTCUSDT")
    old = parquet.table_of(rows[::2])  # every other trade stored, the rest arrive late
    new = parquet.table_of(rows[1::2] + rows[100:300])  # with some redelivered
    whole = parquet.merge(old, new)
    pieces = list(parquet.merge_sorted(_batches(old, 137), _batches(new, 211)))
    assert max(p.num_rows for p in pieces) <= 137 + 211  # never more than a batch of each
    streamed = parquet.pa.concat_tables(pieces)
    assert streamed["trade_id"].to_pylist() == whole["trade_id"].to_pylist()
    summarizer = parquet.Summarizer(8, 8)
    for piece in pieces:
        summarizer.add(piece)
    assert (
        summarizer.summary()
        == parquet.summarize(whole)
        == parquet.summarize(parquet.table_of(rows))
    )


def test_the_stored_row_wins_when_a_redelivered_trade_differs() -> None:
    rows = _rows("ETHUSDT")[:50]
    changed = [(i, p + Decimal("0.01"), q, t, m) for i, p, q, t, m in rows[10:20]]
    old, new = parquet.table_of(rows), parquet.table_of(changed)
    merged = parquet.pa.concat_tables(parquet.merge_sorted(_batches(old, 7), _batches(new, 3)))
    assert parquet.summarize(merged) == parquet.summarize(old)


def test_written_batches_form_full_row_groups_whatever_the_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parquet, "ROW_GROUP", 1000)
    table = parquet.table_of(_rows("BTCUSDT"))
    sink = io.BytesIO()
    written = parquet.write_batches(table.schema, _batches(table, 333), sink)
    meta = pq.read_metadata(io.BytesIO(sink.getvalue()))
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    assert written == table.num_rows == sum(sizes)
    assert sizes[:-1] == [1000] * (len(sizes) - 1) and 0 < sizes[-1] <= 1000
    back = pq.read_table(io.BytesIO(sink.getvalue()))
    assert parquet.summarize(back) == parquet.summarize(table)
