"""Exact decimal arithmetic for derived statistics: no float anywhere.

Values that are exact in the data (min, max, first, last, change, median) are returned
exactly. Values that need a division or a square root (mean, stddev, change_pct, vwap) are
computed from the exact rational value and rounded once, half to even, to
:data:`DERIVED_PLACES` decimal places; the square root is rounded from the exact root, not
from a rounded variance.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from math import isqrt

DERIVED_PLACES = 10
_PRECISION = 80


def fmt(value: Decimal) -> str:
    """Format a decimal in plain notation (never ``1E-8``), keeping its scale."""
    return format(value, "f")


def round_fraction(value: Fraction, places: int = DERIVED_PLACES) -> str:
    """Round *value* half to even to *places* decimals and format it."""
    sign = "-" if value < 0 else ""
    scaled = abs(value) * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return _fixed(sign, q, places)


def round_sqrt(value: Fraction, places: int = DERIVED_PLACES) -> str:
    """Round the exact square root of a non-negative *value* half to even and format it."""
    if value < 0:
        raise ValueError("square root of a negative number")
    n = value.numerator * 10 ** (2 * places)
    d = value.denominator
    k = isqrt(n // d)
    # Compare sqrt(n/d) with k + 1/2 exactly: 4n against (2k + 1)^2 d.
    left, right = 4 * n, (2 * k + 1) ** 2 * d
    if left > right or (left == right and k % 2 == 1):
        k += 1
    return _fixed("", k, places)


def _fixed(sign: str, units: int, places: int) -> str:
    digits = str(units).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def exact_sub(a: Decimal, b: Decimal) -> Decimal:
    """Return ``a - b`` without rounding."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return a - b


def exact_midpoint(a: Decimal, b: Decimal) -> Decimal:
    """Return ``(a + b) / 2`` exactly (the median of an even count)."""
    if a == b:
        return a
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return (a + b) / 2


def mean(total: Decimal, count: int) -> str:
    """Return the rounded mean."""
    return round_fraction(Fraction(total) / count)


def sample_stddev(total: Decimal, sq_total: Decimal, count: int) -> str | None:
    """Return the rounded sample standard deviation (None below two values)."""
    if count < 2:
        return None
    s, q = Fraction(total), Fraction(sq_total)
    variance = (count * q - s * s) / (count * (count - 1))
    return round_sqrt(max(variance, Fraction(0)))


def change_pct(first: Decimal, last: Decimal) -> str | None:
    """Return ``(last - first) / first * 100`` rounded (None when first is zero)."""
    if first == 0:
        return None
    return round_fraction((Fraction(last) - Fraction(first)) / Fraction(first) * 100)


def ratio(numerator: Decimal, denominator: Decimal) -> str | None:
    """Return ``numerator / denominator`` rounded (None when the denominator is zero)."""
    if denominator == 0:
        return None
    return round_fraction(Fraction(numerator) / Fraction(denominator))
