"""Rolling-window tickers in Binance's shapes (pure): ``GET /api/v3/ticker/24hr`` rows and the
entries of the all-market stream ``!ticker_<window>@arr``.

A window starts on a minute (``O``/``openTime``) and ends now (``C``/``closeTime``), so it is
up to 59,999 ms wider than its nominal size, as Binance documents for its rolling-window
tickers; the REST 24 h ticker is computed the same way. A symbol without a trade in the window
shows ``firstId``/``lastId`` -1 and ``count`` 0 on REST, its last price as open and close; the
stream leaves such a symbol out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tickvault_replay.decimals import format_units
from tickvault_replay.rolling import MINUTE_MS, Window

WINDOWS_MS = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
_PLACES = 8
_ZERO = "0.00000000"


def window_open(now_ms: int, span_ms: int) -> int:
    """Return the minute a window of *span_ms* ending at *now_ms* opens at."""
    start = now_ms - span_ms
    return start - start % MINUTE_MS


def _round_div(num: int, den: int) -> int:
    quotient, rest = divmod(abs(num), den)
    quotient += 2 * rest >= den
    return quotient if num >= 0 else -quotient


def _price(units: int | None) -> str:
    return _ZERO if units is None else format_units(units, _PLACES)


def _quote(units: int) -> str:
    return format_units(_round_div(units, 10**_PLACES), _PLACES)


def _average(window: Window) -> str:
    if not window.volume:
        return _ZERO
    return format_units(_round_div(window.quote, window.volume), _PLACES)


def _percent(window: Window) -> str:
    if not window.open:
        return "0.000"
    return format_units(_round_div((window.close - window.open) * 100_000, window.open), 3)


def _book(raw: bytes) -> list[str]:
    """Return bid, bid quantity, ask and ask quantity of a bookTicker payload (zeros if none)."""
    try:
        book = msgspec.json.decode(raw) if raw else {}
    except (msgspec.DecodeError, RecursionError):
        book = {}
    if not isinstance(book, dict):
        book = {}
    return [str(book.get(k, _ZERO)) for k in ("b", "B", "a", "A")]


_HEAD = ("priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice")
_PRICES = ("openPrice", "highPrice", "lowPrice")
_VOLUMES = ("volume", "quoteVolume")


def rest_row(
    symbol: str,
    window: Window | None,
    last: tuple[int | None, str, bytes],
    span: tuple[int, int],
    full: bool,
) -> dict[str, Any]:
    """Return one ``ticker/24hr`` row; *last* is (last price, last qty, latest bookTicker)."""
    last_price, last_qty, book = last
    if window is None:
        price = _price(last_price)
        stats = dict.fromkeys(_HEAD + _PRICES + _VOLUMES, _ZERO)
        stats.update(
            priceChangePercent="0.000", prevClosePrice=price, lastPrice=price, openPrice=price
        )
        last_qty, ids = _ZERO, (-1, -1, 0)
    else:
        stats = {
            "priceChange": format_units(window.close - window.open, _PLACES),
            "priceChangePercent": _percent(window),
            "weightedAvgPrice": _average(window),
            "prevClosePrice": _price(window.prev_close),
            "lastPrice": _price(window.close),
            "openPrice": _price(window.open),
            "highPrice": _price(window.high),
            "lowPrice": _price(window.low),
            "volume": _price(window.volume),
            "quoteVolume": _quote(window.quote),
        }
        ids = (window.first_id, window.last_id, window.count)
    row: dict[str, Any] = {"symbol": symbol}
    if full:
        row.update((key, stats[key]) for key in _HEAD)
        row["lastQty"] = last_qty
        row.update(zip(("bidPrice", "bidQty", "askPrice", "askQty"), _book(book), strict=True))
        row.update((key, stats[key]) for key in _PRICES + _VOLUMES)
    else:
        row.update((key, stats[key]) for key in (*_PRICES, "lastPrice", *_VOLUMES))
    row["openTime"], row["closeTime"] = span
    row["firstId"], row["lastId"], row["count"] = ids
    return row


def stream_entry(
    kind: str, symbol: str, window: Window, span: tuple[int, int], event_ms: int
) -> dict[str, Any]:
    """Return one ``<kind>Ticker`` entry of ``!ticker_<kind>@arr`` (kind: 1h, 4h or 1d)."""
    open_ms, close_ms = span
    return {
        "e": f"{kind}Ticker",
        "E": event_ms,
        "s": symbol,
        "p": format_units(window.close - window.open, _PLACES),
        "P": _percent(window),
        "o": _price(window.open),
        "h": _price(window.high),
        "l": _price(window.low),
        "c": _price(window.close),
        "w": _average(window),
        "v": _price(window.volume),
        "q": _quote(window.quote),
        "O": open_ms,
        "C": close_ms,
        "F": window.first_id,
        "L": window.last_id,
        "n": window.count,
    }
