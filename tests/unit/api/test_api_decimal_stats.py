"""Exact rounding of derived statistics, checked against high-precision Decimal arithmetic."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from tickvault_api import decimal_stats
from tickvault_api.cache import ResultCache
from tickvault_api.median import median_ranks


def _reference(value: Fraction, sqrt: bool = False) -> str:
    with localcontext() as ctx:
        ctx.prec = 120
        d = Decimal(value.numerator) / Decimal(value.denominator)
        if sqrt:
            d = d.sqrt()
        return format(d.quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN), "f")


@given(st.fractions(min_value=-(10**9), max_value=10**9, max_denominator=10**12))
def test_round_fraction_matches_decimal(value: Fraction) -> None:
    got = decimal_stats.round_fraction(value)
    assert got == _reference(value) or (
        Fraction(Decimal(got)) == 0 and Decimal(_reference(value)) == 0
    )


@given(st.fractions(min_value=0, max_value=10**12, max_denominator=10**12))
def test_round_sqrt_matches_decimal(value: Fraction) -> None:
    assert decimal_stats.round_sqrt(value) == _reference(value, sqrt=True)


def test_ties_round_half_to_even() -> None:
    assert decimal_stats.round_fraction(Fraction(5, 10**11)) == "0.0000000000"
    assert decimal_stats.round_fraction(Fraction(15, 10**11)) == "0.0000000002"
    assert decimal_stats.round_fraction(Fraction(-15, 10**11)) == "-0.0000000002"
    assert decimal_stats.round_sqrt(Fraction(4)) == "2.0000000000"


def test_statistics_helpers() -> None:
    assert decimal_stats.mean(Decimal("3.00000000"), 2) == "1.5000000000"
    assert decimal_stats.sample_stddev(Decimal("6"), Decimal("14"), 3) == "1.0000000000"
    assert decimal_stats.sample_stddev(Decimal("6"), Decimal("36"), 1) is None
    assert decimal_stats.change_pct(Decimal("200.00"), Decimal("201.00")) == "0.5000000000"
    assert decimal_stats.change_pct(Decimal("0"), Decimal("1")) is None
    assert decimal_stats.ratio(Decimal("1"), Decimal("3")) == "0.3333333333"
    assert decimal_stats.exact_midpoint(
        Decimal("61837.63000000"), Decimal("61837.64000000")
    ) == Decimal("61837.635")
    assert decimal_stats.fmt(Decimal("1E-8")) == "0.00000001"
    assert median_ranks(5) == (3, 3) and median_ranks(6) == (3, 4)


def test_cache_keeps_past_answers_until_their_ttl() -> None:
    now = [0.0]
    cache = ResultCache(entries=2, ttl_seconds=10, grace_seconds=5, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.cacheable(1_000_000, 6_000_000) and not cache.cacheable(2_000_000, 6_000_000)
    assert not cache.cacheable(None, 6_000_000)
    assert cache.get_or_compute("a", compute) == 1
    assert cache.get_or_compute("a", compute) == 1
    now[0] = 11.0
    assert cache.get_or_compute("a", compute) == 2
    cache.get_or_compute("b", compute)
    cache.get_or_compute("c", compute)
    assert cache.get_or_compute("a", compute) == 5  # evicted as least recently used
