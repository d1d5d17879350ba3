"""Per-file aggregates combine into exactly what a computation over every trade gives, and the
banded median over whole files finds the sorted median reading only the files it must."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tickvault.aggregates import Aggregate, Folder, combine, of_table
from tickvault.cold import parquet
from tickvault.cold.manifest import ColdFile
from tickvault_api import cold_totals
from tickvault_api.rows import TradeRow
from tickvault_api.tiered import aggregate_rows

DAY_US = 86_400_000_000
EPOCH = date(2024, 1, 1)
BASE_US = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)

# few prices, few instants: ties in price and in time are the cases that matter
trade = st.tuples(
    st.integers(1, 40).map(lambda c: Decimal(c).scaleb(-2)),  # price, 2 decimals
    st.integers(1, 999).map(lambda c: Decimal(c).scaleb(-3)),  # quantity, 3 decimals
    st.integers(0, 4 * 24 - 1),  # hour of four days
    st.integers(0, 2),  # microsecond: same-instant trades
)
trades = st.lists(trade, min_size=1, max_size=60)


def _rows(drawn: list[tuple[Decimal, Decimal, int, int]]) -> list[TradeRow]:
    """Return the drawn trades with ids (not in time order) as API rows, by (time, id)."""
    out = [
        TradeRow(1000 - i, p, q, BASE_US + hour * 3_600_000_000 + us, i % 2 == 0)
        for i, (p, q, hour, us) in enumerate(drawn)
    ]
    return sorted(out, key=lambda r: (r.trade_time, r.trade_id))


def _table(rows: list[TradeRow]) -> pa.Table:
    return parquet.table_of(
        [(r.trade_id, r.price, r.quantity, r.trade_time, r.is_buyer_maker) for r in rows]
    )


def _exactly(agg: Aggregate) -> tuple[str, ...]:
    """Return every field as its string: equal decimals of another scale would print apart."""
    return tuple(str(getattr(agg, f)) for f in Aggregate.__dataclass_fields__)


def _by_day(rows: list[TradeRow]) -> dict[int, list[TradeRow]]:
    days: dict[int, list[TradeRow]] = {}
    for r in rows:
        days.setdefault((r.trade_time - BASE_US) // DAY_US, []).append(r)
    return days


@given(trades, st.integers(1, 7))
def test_folding_batches_in_any_order_equals_the_aggregate_of_every_trade(
    drawn: list[tuple[Decimal, Decimal, int, int]], batch: int
) -> None:
    rows = _rows(drawn)
    folder = Folder()
    table = _table(rows)  # sorted by id, not by time
    for start in range(0, table.num_rows, batch):
        folder.add(table.slice(start, batch))
    assert _exactly(folder.aggregate()) == _exactly(aggregate_rows(rows))


@given(trades)
def test_aggregates_of_days_combine_into_the_aggregate_of_every_trade(
    drawn: list[tuple[Decimal, Decimal, int, int]],
) -> None:
    rows = _rows(drawn)
    parts = [of_table(_table(day)) for day in _by_day(rows).values()]
    assert _exactly(combine(reversed(parts))) == _exactly(aggregate_rows(rows))


def test_decimals_too_wide_for_vectorised_sums_are_summed_exactly() -> None:
    big = Decimal("123456789012345678901.12345678")  # 29 digits: a DECIMAL(38) column
    rows = [
        TradeRow(1, big, Decimal("2.5"), BASE_US, True),
        TradeRow(2, Decimal("0.00000001"), Decimal("1.5"), BASE_US + 1, False),
    ]
    table = parquet.table_of([(1, big, Decimal("2.5"), BASE_US, True)])
    table = pa.concat_tables(
        [table, parquet.table_of([(2, Decimal("0.00000001"), Decimal("1.5"), BASE_US + 1, False)])],
        promote_options="permissive",
    )
    assert table.schema.field("price").type.precision == parquet.WIDE
    assert _exactly(of_table(table)) == _exactly(aggregate_rows(rows))


def _file(day: int, rows: list[TradeRow]) -> ColdFile:
    agg = of_table(_table(rows))
    first, last = (
        datetime.fromtimestamp(t / 1e6, tz=UTC)
        for t in (min(r.trade_time for r in rows), max(r.trade_time for r in rows))
    )
    return ColdFile(
        "X",
        EPOCH + timedelta(days=day),
        f"day-{day}",
        len(rows),
        min(r.trade_id for r in rows),
        max(r.trade_id for r in rows),
        first,
        last,
        "",
        aggregate=agg,
    )


@settings(max_examples=200)
@given(trades, st.sets(st.integers(0, 3)))
def test_the_banded_median_over_whole_files_equals_the_sorted_median(
    drawn: list[tuple[Decimal, Decimal, int, int]], read_days: set[int]
) -> None:
    rows = _rows(drawn)
    days = _by_day(rows)
    whole = [_file(d, rs) for d, rs in days.items() if d not in read_days]
    rest = [r for d, rs in days.items() if d in read_days for r in rs]
    prices = {f.path: [r.price for r in days[int(f.path[4:])]] for f in whole}
    asked: list[str] = []

    def read(
        files: list[ColdFile], low: Decimal, high: Decimal
    ) -> tuple[int, list[tuple[Decimal, int]]]:
        asked.extend(f.path for f in files)
        every = [p for f in files for p in prices[f.path]]
        inside = Counter(p for p in every if low <= p <= high)
        return sum(p < low for p in every), list(inside.items())

    levels = cold_totals.points(rest)
    if rest:  # a table's levels are a list's (the vectorised and row paths agree)
        assert sorted(levels) == sorted(cold_totals.points(_table(rest)))
    pair = cold_totals.median_pair(len(rows), whole, levels, read)
    ordered = sorted(r.price for r in rows)
    n = len(ordered)
    assert pair == (ordered[(n + 1) // 2 - 1], ordered[n // 2])
    assert len(asked) == len(set(asked))  # a file's prices are read once at most
