"""Derive aggregate trades from trades, and trades from aggregate trades (pure).

An aggregate groups consecutive fills of one symbol with the same trade time, side and price
(the fills of one taker order at one price, as Binance defines it). Going the other way, an
aggregate ``f..l`` becomes ``l-f+1`` trades at its price, its quantity split evenly on its
last decimal place with the remainder on the last fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tickvault.symbols import stream_symbol
from tickvault_replay.decimals import add_all, format_units, places, to_units
from tickvault_replay.encode import agg_payload, trade_payload
from tickvault_replay.model import AggTrade, Event, Trade


@dataclass(slots=True)
class _Group:
    trades: list[Trade] = field(default_factory=list)
    last_event_us: int = 0


def build_agg(trades: list[Trade], agg_id: int) -> AggTrade:
    """Return the aggregate of a non-empty group of fills."""
    first, last = trades[0], trades[-1]
    qty = add_all([t.qty for t in trades])
    return AggTrade(
        first.symbol,
        agg_id,
        first.price,
        qty,
        first.id,
        last.id,
        first.time_us,
        last.event_us,
        first.buyer_maker,
        first.best_match,
    )


def agg_event(agg: AggTrade) -> Event:
    """Return the ``@aggTrade`` event of an aggregate."""
    return Event(
        agg.event_us, f"{stream_symbol(agg.symbol)}@aggTrade", agg.symbol, agg_payload(agg), agg=agg
    )


def trade_event(trade: Trade) -> Event:
    """Return the ``@trade`` event of a trade."""
    return Event(
        trade.event_us,
        f"{stream_symbol(trade.symbol)}@trade",
        trade.symbol,
        trade_payload(trade),
        trade=trade,
    )


class AggBuilder:
    """Group a time-ordered trade sequence into aggregates, symbol by symbol."""

    def __init__(self, next_ids: dict[str, int] | None = None) -> None:
        self._open: dict[str, _Group] = {}
        self._next_ids = dict(next_ids or {})

    def _close(self, symbol: str) -> AggTrade:
        group = self._open.pop(symbol)
        agg_id = self._next_ids.setdefault(symbol, group.trades[0].id)
        self._next_ids[symbol] = agg_id + 1
        return build_agg(group.trades, agg_id)

    def close_older(self, time_us: int) -> list[AggTrade]:
        """Close the groups whose last fill happened before *time_us*."""
        done = [s for s, g in self._open.items() if g.last_event_us < time_us]
        return [self._close(s) for s in done]

    def add(self, trade: Trade) -> AggTrade | None:
        """Add a fill; return the aggregate it closes, if it starts a new group."""
        closed = None
        group = self._open.get(trade.symbol)
        if group is not None:
            head = group.trades[-1]
            same = (head.time_us, head.buyer_maker, head.price, head.id + 1) == (
                trade.time_us,
                trade.buyer_maker,
                trade.price,
                trade.id,
            )
            if not same:
                closed = self._close(trade.symbol)
                group = None
        if group is None:
            group = self._open[trade.symbol] = _Group()
        group.trades.append(trade)
        group.last_event_us = trade.event_us
        return closed

    def close_all(self) -> list[AggTrade]:
        """Close every open group."""
        return [self._close(s) for s in list(self._open)]


def with_aggs(
    events: Iterable[Event], symbols: set[str], next_ids: dict[str, int] | None = None
) -> Iterator[Event]:
    """Yield *events* with derived ``@aggTrade`` events inserted for the trades of *symbols*."""
    builder = AggBuilder(next_ids)
    for event in events:
        for agg in builder.close_older(event.time_us):
            yield agg_event(agg)
        trade = event.trade
        if trade is not None and trade.symbol in symbols:
            closed = builder.add(trade)
            if closed is not None:
                yield agg_event(closed)
        yield event
    for agg in builder.close_all():
        yield agg_event(agg)


def split_agg(agg: AggTrade) -> list[Trade]:
    """Return the fills of an aggregate, its quantity split evenly on its last place."""
    count = agg.last_id - agg.first_id + 1
    if count <= 1 or agg.first_id < 0:
        return [
            Trade(
                agg.symbol,
                agg.first_id,
                agg.price,
                agg.qty,
                agg.time_us,
                agg.event_us,
                agg.buyer_maker,
                agg.best_match,
            )
        ]
    digits = places(agg.qty)
    units = to_units(agg.qty, digits)
    share, rest = divmod(units, count)
    if share == 0:
        share, rest = 0, units
    out = []
    for i in range(count):
        part = share + (rest if i == count - 1 else 0)
        out.append(
            Trade(
                agg.symbol,
                agg.first_id + i,
                agg.price,
                format_units(part, digits),
                agg.time_us,
                agg.event_us,
                agg.buyer_maker,
                agg.best_match,
            )
        )
    return out
