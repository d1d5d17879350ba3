"""The per-symbol REST endpoints as pure functions of the query and the tapes: trades,
historicalTrades, aggTrades and klines.

Each takes the query parameters and a :class:`~tickvault_replay.params.Context` and returns
the JSON-ready body, or raises :class:`~tickvault_replay.params.BinanceError` with Binance's code
and message.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from tickvault_replay.decimals import quote_qty
from tickvault_replay.history import History
from tickvault_replay.klines import INTERVALS, klines, span_ms
from tickvault_replay.model import AggTrade, Trade
from tickvault_replay.params import (
    BinanceError,
    Context,
    bad_combination,
    int_param,
    limit_param,
    symbol_param,
    time_param_us,
)
from tickvault_replay.store import SymbolTape


def _tape(params: Mapping[str, str], ctx: Context) -> SymbolTape:
    return ctx.store.ensure(symbol_param(params, ctx))


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
    return [trade_row(t, ctx.micros) for t in tape.recent(limit_param(params))]


def historical_trades(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/historicalTrades."""
    symbol = symbol_param(params, ctx)
    tape = ctx.store.ensure(symbol)
    limit = limit_param(params)
    from_id = int_param(params, "fromId")
    rows = tape.recent(limit) if from_id is None else tape.from_id(from_id, limit)
    history = ctx.histories.get(symbol)
    if history is not None and from_id is not None and from_id < history.end_id:
        rows = _with_history(history, from_id, limit, rows)
    return [trade_row(t, ctx.micros) for t in rows]


def _with_history(history: History, from_id: int, limit: int, live: list[Trade]) -> list[Trade]:
    """Return the page from *from_id*: archived trades below the live ones, then live ones."""
    below = history.end_id
    past = list(history.trades(from_id, min(below - 1, from_id + limit - 1)))
    if len(past) >= limit:
        return past[:limit]
    return past + [t for t in live if t.id >= below][: limit - len(past)]


def agg_trades(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/aggTrades."""
    tape = _tape(params, ctx)
    from_id = int_param(params, "fromId")
    start, end = time_param_us(params, "startTime"), time_param_us(params, "endTime")
    if from_id is not None and (start is not None or end is not None):
        raise bad_combination()
    rows = tape.agg_query(from_id, start, end, limit_param(params))
    return [agg_row(a, ctx.micros) for a in rows]


def kline_rows(params: Mapping[str, str], ctx: Context) -> Any:
    """GET /api/v3/klines (only candles that have trades)."""
    tape = _tape(params, ctx)
    interval = params.get("interval")
    if not interval:
        raise BinanceError(
            -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
        )
    if interval not in INTERVALS:
        raise BinanceError(-1120, "Invalid interval.")
    limit = limit_param(params)
    start, end = time_param_us(params, "startTime"), time_param_us(params, "endTime")
    reach = span_ms(interval) * 1000 * (limit + 1)
    times = tape.trade_series.times
    if start is not None:
        at = bisect_left(times, start)
        anchor = times[at] if at < len(times) else start
        lo, hi = start, min(end if end is not None else 2**62, anchor + reach)
    else:
        last = times[-1] if times else 0
        hi = end if end is not None else last
        lo = max(0, hi - reach)
    rows = klines(tape.trades_between(lo, hi), interval, 1000 if ctx.micros else 1)
    return rows[:limit] if start is not None else rows[-limit:]
