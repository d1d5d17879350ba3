"""Exact decimal-string arithmetic for prices and quantities; never through ``float``."""

from __future__ import annotations

import re
from decimal import Context, Decimal

_EXACT = Context(prec=60)

_QUOTE_PLACES = Decimal("0.00000001")
_PLAIN = re.compile(r"^-?[0-9]+(\.[0-9]*)?$")


def quote_qty(price: str, qty: str) -> str:
    """Return ``price * qty`` exactly, as Binance writes it (8 places unless more are needed)."""
    product = _EXACT.multiply(Decimal(price), Decimal(qty))
    fixed = product.quantize(_QUOTE_PLACES)
    if fixed == product:
        return format(fixed, "f")
    return format(product.normalize(), "f")


def places(text: str) -> int:
    """Return how many digits follow the decimal point in *text*."""
    _, dot, frac = text.partition(".")
    return len(frac) if dot else 0


def add_all(values: list[str]) -> str:
    """Return the exact sum of decimal strings, written with the most places among them."""
    if len(values) == 1:
        return values[0]
    total = Decimal(0)
    for value in values:
        total = _EXACT.add(total, Decimal(value))
    digits = max(places(v) for v in values)
    return format(total.quantize(Decimal(1).scaleb(-digits)), "f")


def format_units(units: int, digits: int) -> str:
    """Return the integer count of ``10**-digits`` units as a fixed-point string."""
    sign = "-" if units < 0 else ""
    text = str(abs(units)).rjust(digits + 1, "0")
    if digits == 0:
        return sign + text
    return f"{sign}{text[:-digits]}.{text[-digits:]}"


def to_units(text: str, digits: int) -> int:
    """Return *text* as an integer count of ``10**-digits`` units (exact, truncating nothing)."""
    whole, _, frac = text.partition(".")
    if len(frac) <= digits and _PLAIN.match(text):
        return int(whole + frac.ljust(digits, "0"))
    value = Decimal(text).scaleb(digits)
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} has more than {digits} decimal places")
    return int(value)
