"""Fuzzing what the frame-parser and codec fuzzers do not reach: REST bodies and audit plans.

The collector and the auditor read REST bodies from the exchange: whatever bytes arrive, the
parsers return values or raise :class:`FrameError`, nothing else. The auditor's range
arithmetic is checked against a brute-force model over small id sets.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tickvault.codec import GapFinder, GapReason, GapStatus
from tickvault.errors import FrameError
from tickvault.rest.parse import parse_error, parse_trades
from tickvault.tick import is_decimal_string
from tickvault_collector.gaps.audit_plan import (
    holes_between,
    merge,
    plan_symbol,
    stitch,
)
from tickvault_collector.gaps.stored import StoredGap
from tickvault_collector.tickers import parse_rest_tickers, parse_stream_tickers
from tickvault_collector.universe import parse_universe

RECEIVED = 1_723_161_255_342_000

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=12)
    | st.sampled_from(["61837.63000000", "0.00100000", "1e5", "-1", "NaN", "١٢"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "price",
                    "qty",
                    "time",
                    "isBuyerMaker",
                    "symbols",
                    "symbol",
                    "status",
                    "firstId",
                    "lastId",
                    "closeTime",
                    "s",
                    "F",
                    "L",
                    "E",
                    "stream",
                    "data",
                    "code",
                    "msg",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=25,
)
_BODIES = st.one_of(
    st.binary(max_size=400),
    _VALUES.map(lambda v: json.dumps(v).encode()),
    st.lists(_VALUES, max_size=4).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=150, deadline=None)
@given(_BODIES)
def test_any_trades_page_parses_or_raises_frame_error_only(body: bytes) -> None:
    try:
        ticks = parse_trades("BTCUSDT", body, RECEIVED)
    except FrameError:
        return
    ids = [t.trade_id for t in ticks]
    assert ids == sorted(ids)
    assert all(is_decimal_string(t.price) and is_decimal_string(t.quantity) for t in ticks)


@settings(max_examples=150, deadline=None)
@given(_BODIES)
def test_any_exchange_info_or_error_body_never_raises_anything_else(body: bytes) -> None:
    try:
        universe = parse_universe(body)
        assert universe.statuses
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in universe.statuses.items())
    except FrameError:
        pass
    code, message = parse_error(body)
    assert isinstance(code, int)
    assert isinstance(message, str)


@settings(max_examples=150, deadline=None)
@given(_BODIES)
def test_any_ticker_body_gives_usable_rows_or_raises_frame_error_only(body: bytes) -> None:
    for parse in (parse_rest_tickers, parse_stream_tickers):
        try:
            tickers = parse(body)
        except FrameError:
            continue
        assert tickers.bad >= 0
        for row in tickers.rows:
            assert (row.last_id < 0 and row.first_id < 0) or 0 <= row.first_id <= row.last_id


_IDS = st.sets(st.integers(0, 120), max_size=60)


def _runs(ids: set[int]) -> list[tuple[int, int]]:
    """Brute force: the maximal runs of consecutive ids."""
    out: list[tuple[int, int]] = []
    for i in sorted(ids):
        if out and out[-1][1] + 1 == i:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), max_size=12))
def test_merge_covers_exactly_the_union_of_the_ranges(ranges: list[tuple[int, int]]) -> None:
    union = {i for a, b in ranges for i in range(a, b + 1)}
    assert merge(ranges) == _runs(union)


@given(_IDS, st.integers(1, 5))
def test_scan_pairs_and_partition_spans_find_every_hole_between_stored_ids(
    stored: set[int], parts: int
) -> None:
    ids = sorted(stored)
    # Split the stored ids into consecutive "partitions", as the auditor scans them.
    chunks = [ids[len(ids) * k // parts : len(ids) * (k + 1) // parts] for k in range(parts)]
    pairs = [(a, b) for chunk in chunks for a, b in itertools.pairwise(chunk)]
    spans = [(c[0], c[-1]) for c in chunks if c]
    found = merge(holes_between(pairs) + stitch(spans))
    expected = _runs(set(range(ids[0], ids[-1] + 1)) - stored) if ids else []
    assert found == expected


@given(
    _IDS,
    st.lists(st.tuples(st.integers(0, 130), st.integers(0, 10)), max_size=4),
    st.none() | st.integers(0, 140),
)
def test_the_plan_fetches_every_missing_id_of_open_records_and_the_tail(
    stored: set[int], gaps: list[tuple[int, int]], latest: int | None
) -> None:
    ids = sorted(stored)
    span = (ids[0], ids[-1]) if ids else None
    holes = _runs(set(range(ids[0], ids[-1] + 1)) - stored) if ids else []
    records = [
        StoredGap("X", a, a + n, GapStatus.DETECTED, GapFinder.COLLECTOR, 0, GapReason.WS_GAP)
        for a, n in gaps
    ]
    plan = plan_symbol(holes, span, records, latest)
    fetched = {i for a, b in plan.fetch for i in range(a, b + 1)}
    wanted = {i for r in records for i in range(r.first_id, r.last_id + 1)} - stored
    if span is not None and latest is not None:
        wanted |= set(range(span[1] + 1, latest + 1))
    wanted |= {i for a, b in holes for i in range(a, b + 1)}
    assert fetched == wanted
    assert not fetched & stored
