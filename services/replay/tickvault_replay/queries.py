"""The REST market-data endpoints as pure functions of the query and the tapes.

Each takes the query parameters and a :class:`Context` and returns the JSON-ready body, or
raises :class:`ApiError` with Binance's code and message.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tickvault.errors import TickvaultError
from tickvault_replay.decimals import quote_qty
from tickvault_replay.klines import INTERVALS, klines, span_ms
from tickvault_replay.model import AggTrade, Trade
from tickvault_replay.store import SymbolTape, TradeStore
from tickvault_replay.symbols import SymbolSpec, exchange_info

_SYMBOL = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_SYMBOL_MISSING = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."


class ApiError(TickvaultError):
    """A Binance error body: HTTP status, code and message."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass(frozen=True, slots=True)
class Context:
    """What the endpoints read: the tapes, the symbols and the caller's time unit."""

    store: TradeStore
    specs: dict[str, SymbolSpec]
    micros: bool
    now_ms: int


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DIGITS.match(raw):
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


def _limit(params: Mapping[str, str], default: int = 500, top: int = 1000) -> int:
    limit = _int(params, "limit")
    if limit is None:
        return default
    if limit < 1:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return min(limit, top)


def _symbol(params: Mapping[str, str], ctx: Context) -> str:
    symbol = params.get("symbol")
    if not symbol:
        raise ApiError(-1102, _SYMBOL_MISSING)
    if not _SYMBOL.match(symbol):
        raise ApiError(
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        )
    if symbol not in ctx.specs:
        raise ApiError(-1121, "Invalid symbol.")
    return symbol


def _tape(params: Mapping[str, str], ctx: Context) -> SymbolTape:
    return ctx.store.ensure(_symbol(params, ctx))


def _times_us(params: Mapping[str, str], name: str) -> int | None:
    value = _int(params, name)
    if value is None:
        return None
    return value if value >= 10**14 else value * 1000


def trade_row(trade: Trade, micros: bool) -> dict[str, Any]:
    """Return a trade in ``/api/v3/trades`` shape."""
    return {
        "id": trade.id,
        "price": trade.price,
        "qty": trade.qty,
        "quoteQty": quote_qty(trade.price, trade.qty),
        "time": trade.time_us if micros else trade.time_us // 1000,
        "isBuyerMaker": trade.buyer_maker,
        "isBestMatch": trade.best_match,
    }


def agg_row(agg: AggTrade, micros: bool) -> dict[str, Any]:
    """Return an aggregate in ``/api/v3/aggTrades`` shape."""
    return {
        "a": agg.id,
        "p": agg.price,
        "q": agg.qty,
        "f": agg.first_id,
        "l": agg.last_id,
        "T": agg.time_us if micros else agg.time_us // 1000,
        "m": agg.buyer_maker,
        "M": agg.best_match,
    }


def recent_trades(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/trades."""
    tape = _tape(params, ctx)
    return [trade_row(t, ctx.micros) for t in tape.recent(_limit(params))]


def historical_trades(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/historicalTrades."""
    tape = _tape(params, ctx)
    limit = _limit(params)
    from_id = _int(params, "fromId")
    rows = tape.recent(limit) if from_id is None else tape.from_id(from_id, limit)
    return [trade_row(t, ctx.micros) for t in rows]


def agg_trades(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/aggTrades."""
    tape = _tape(params, ctx)
    from_id = _int(params, "fromId")
    start, end = _times_us(params, "startTime"), _times_us(params, "endTime")
    if from_id is not None and (start is not None or end is not None):
        raise ApiError(-1128, "Combination of optional parameters invalid.")
    rows = tape.agg_query(from_id, start, end, _limit(params))
    return [agg_row(a, ctx.micros) for a in rows]


def kline_rows(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/klines (only candles that have trades)."""
    tape = _tape(params, ctx)
    interval = params.get("interval")
    if not interval:
        raise ApiError(
            -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
        )
    if interval not in INTERVALS:
        raise ApiError(-1120, "Invalid interval.")
    limit = _limit(params)
    start, end = _times_us(params, "startTime"), _times_us(params, "endTime")
    reach = span_ms(interval) * 1000 * (limit + 1)
    if start is not None:
        at = bisect_left(tape.trade_times, start)
        anchor = tape.trade_times[at] if at < len(tape.trade_times) else start
        lo, hi = start, min(end if end is not None else 2**62, anchor + reach)
    else:
        last = tape.trade_times[-1] if tape.trade_times else 0
        hi = end if end is not None else last
        lo = max(0, hi - reach)
    rows = klines(tape.trades_between(lo, hi), interval, 1000 if ctx.micros else 1)
    return rows[:limit] if start is not None else rows[-limit:]


def ticker_price(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/ticker/price (one symbol, a ``symbols`` JSON array, or all)."""

    def price(symbol: str) -> dict[str, str]:
        trades = ctx.store.ensure(symbol).trades
        return {"symbol": symbol, "price": trades[-1].price if trades else "0.00000000"}

    if "symbol" in params:
        return price(_symbol(params, ctx))
    if "symbols" in params:
        try:
            wanted = orjson.loads(params["symbols"])
        except orjson.JSONDecodeError as exc:
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from exc
        if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
        for symbol in wanted:
            if symbol not in ctx.specs:
                raise ApiError(-1121, "Invalid symbol.")
        return [price(s) for s in wanted]
    return [price(s) for s in ctx.specs]


def exchange_info_body(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/exchangeInfo (optionally one ``symbol`` or a ``symbols`` array)."""
    specs = list(ctx.specs.values())
    if "symbol" in params:
        specs = [ctx.specs[_symbol(params, ctx)]]
    elif "symbols" in params:
        try:
            wanted = orjson.loads(params["symbols"])
        except orjson.JSONDecodeError as exc:
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from exc
        if not isinstance(wanted, list) or any(s not in ctx.specs for s in wanted):
            raise ApiError(-1121, "Invalid symbol.")
        specs = [ctx.specs[s] for s in wanted]
    return exchange_info(specs, ctx.now_ms)


Handler = Callable[[Mapping[str, str], Context], Any]

ENDPOINTS: dict[str, tuple[Handler, int]] = {
    "/api/v3/ping": (lambda p, c: {}, 1),
    "/api/v3/time": (lambda p, c: {"serverTime": c.now_ms}, 1),
    "/api/v3/exchangeInfo": (exchange_info_body, 20),
    "/api/v3/trades": (recent_trades, 25),
    "/api/v3/historicalTrades": (historical_trades, 25),
    "/api/v3/aggTrades": (agg_trades, 4),
    "/api/v3/klines": (kline_rows, 2),
    "/api/v3/ticker/price": (ticker_price, 2),
}
