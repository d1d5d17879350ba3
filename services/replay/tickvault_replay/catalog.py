"""The all-market REST endpoints as pure functions: ``exchangeInfo``, ``ticker/price`` and
``ticker/24hr``, each for one ``symbol``, a ``symbols`` array or the whole market, with the
``symbolStatus`` filter, and the weights Binance charges for each form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tickvault_replay.params import (
    BinanceError,
    Context,
    bad_combination,
    selected,
    status_param,
    symbols_list,
)
from tickvault_replay.symbols import exchange_info
from tickvault_replay.tickers import WINDOWS_MS, rest_row, window_open

_ZERO = "0.00000000"


def exchange_info_body(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/exchangeInfo: every listed symbol, or ``symbol``/``symbols``/``symbolStatus``."""
    status = status_param(params)
    listings = ctx.listings
    if status is not None and ("symbol" in params or "symbols" in params):
        raise bad_combination()
    if "symbol" in params or "symbols" in params:
        names, _ = selected(params, ctx)
        infos = [item.info for item in map(listings.get, names) if item is not None]
    else:
        infos = [item.info for item in listings if status is None or item.status is status]
    return exchange_info(infos, ctx.now_ms)


def ticker_price(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/ticker/price (one symbol, a ``symbols`` JSON array, or all)."""
    names, single = selected(params, ctx)
    rows = []
    for symbol in names:
        trades = ctx.store.ensure(symbol).trades
        rows.append({"symbol": symbol, "price": trades[-1].price if trades else _ZERO})
    return rows[0] if single else rows


def ticker_24hr(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/ticker/24hr (FULL or MINI; one symbol, a ``symbols`` array, or all)."""
    kind = params.get("type", "FULL")
    if kind not in ("FULL", "MINI"):
        raise BinanceError(
            -1100, "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'."
        )
    names, single = selected(params, ctx)
    opens = window_open(ctx.clock_ms, WINDOWS_MS["1d"])
    scale = 1000 if ctx.micros else 1
    span = (opens * scale, ctx.clock_ms * scale)
    rows = []
    for symbol in names:
        tape = ctx.store.ensure(symbol)
        trades = tape.trades
        last = (tape.bars.last_close, trades[-1].qty if trades else _ZERO, tape.book)
        rows.append(rest_row(symbol, tape.bars.window(opens), last, span, kind == "FULL"))
    return rows[0] if single else rows


def _symbol_count(params: Mapping[str, str]) -> int | None:
    try:
        wanted = symbols_list(params)
    except BinanceError:
        return 1
    return None if wanted is None else len(wanted)


def price_weight(params: Mapping[str, str]) -> int:
    """Return ``ticker/price``'s weight: 2 for one ``symbol``, else 4."""
    return 2 if "symbol" in params else 4


def ticker_24hr_weight(params: Mapping[str, str]) -> int:
    """Return ``ticker/24hr``'s weight: 2 for a symbol or 1-20, 40 for 21-100, else 80."""
    if "symbol" in params:
        return 2
    count = _symbol_count(params)
    if count is None or count > 100:
        return 80
    return 2 if count <= 20 else 40
