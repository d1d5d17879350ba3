"""The banded median finds exactly the order statistics a full sort gives."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tickvault_api import median

prices = st.integers(1, 60).map(lambda c: Decimal(c).scaleb(-2))
minutes = st.lists(st.lists(prices, min_size=1, max_size=30), min_size=0, max_size=12)


@given(minutes, st.lists(prices, max_size=15))
def test_banded_median_equals_the_sorted_median(
    whole: list[list[Decimal]], edges: list[Decimal]
) -> None:
    everything = sorted([p for m in whole for p in m] + edges)
    if not everything:
        return
    spans = [median.Span(i, min(m), max(m), len(m)) for i, m in enumerate(whole)]
    levels: dict[object, Counter[Decimal]] = {i: Counter(m) for i, m in enumerate(whole)}
    k1, k2 = median.median_ranks(len(everything))
    band = median.band(spans, [(p, 1) for p in edges], k1, k2)
    below = band.below_whole
    below += sum(n for i in band.straddling for p, n in levels[i].items() if p < band.low)
    in_band = [(p, 1) for p in edges if band.low <= p <= band.high]
    in_band += [
        (p, n) for i in band.overlapping for p, n in levels[i].items() if band.low <= p <= band.high
    ]
    assert median.kth(below, in_band, k1) == everything[k1 - 1]
    assert median.kth(below, in_band, k2) == everything[k2 - 1]


@given(minutes.filter(bool), st.data())
def test_every_rank_is_found(whole: list[list[Decimal]], data: st.DataObject) -> None:
    everything = sorted(p for m in whole for p in m)
    k = data.draw(st.integers(1, len(everything)))
    spans = [median.Span(i, min(m), max(m), len(m)) for i, m in enumerate(whole)]
    by_minute: dict[object, list[Decimal]] = dict(enumerate(whole))
    band = median.band(spans, [], k, k)
    below = band.below_whole + sum(1 for i in band.straddling for p in whole[i] if p < band.low)
    in_band = [(p, 1) for i in band.overlapping for p in by_minute[i] if band.low <= p <= band.high]
    assert median.kth(below, in_band, k) == everything[k - 1]
