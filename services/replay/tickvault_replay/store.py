"""What REST serves: the trades and aggregates that have happened, per symbol.

The market appends to a :class:`SymbolTape` as it releases events, so REST never shows a
trade before it happened. Each tape keeps at most ``retention`` items (the oldest go first),
like Binance's REST database that does not hold the whole history.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from tickvault_replay.model import AggTrade, Trade


@dataclass(slots=True)
class SymbolTape:
    """One symbol's released trades and aggregates, with id and time indexes."""

    retention: int
    trades: list[Trade] = field(default_factory=list)
    trade_ids: list[int] = field(default_factory=list)
    trade_times: list[int] = field(default_factory=list)
    aggs: list[AggTrade] = field(default_factory=list)
    agg_ids: list[int] = field(default_factory=list)
    agg_times: list[int] = field(default_factory=list)
    first_id: int | None = None
    released: int = 0

    def add_trade(self, trade: Trade) -> None:
        """Record that *trade* has happened."""
        if self.first_id is None:
            self.first_id = trade.id
        self.released += 1
        self.trades.append(trade)
        self.trade_ids.append(trade.id)
        self.trade_times.append(trade.time_us)
        if len(self.trades) > self.retention + self.retention // 4 + 16:
            cut = len(self.trades) - self.retention
            del self.trades[:cut], self.trade_ids[:cut], self.trade_times[:cut]

    def add_agg(self, agg: AggTrade) -> None:
        """Record that *agg* has happened."""
        self.aggs.append(agg)
        self.agg_ids.append(agg.id)
        self.agg_times.append(agg.time_us)
        if len(self.aggs) > self.retention + self.retention // 4 + 16:
            cut = len(self.aggs) - self.retention
            del self.aggs[:cut], self.agg_ids[:cut], self.agg_times[:cut]

    @property
    def last_id(self) -> int | None:
        """Return the id of the last trade that happened."""
        return self.trade_ids[-1] if self.trade_ids else None

    def recent(self, limit: int) -> list[Trade]:
        """Return the most recent *limit* trades, oldest first."""
        return self.trades[-limit:] if limit > 0 else []

    def from_id(self, from_id: int, limit: int) -> list[Trade]:
        """Return up to *limit* trades with id >= *from_id*."""
        start = bisect_left(self.trade_ids, from_id)
        return self.trades[start : start + limit]

    def trades_between(self, start_us: int, end_us: int) -> list[Trade]:
        """Return the trades with ``start_us <= time <= end_us``."""
        lo = bisect_left(self.trade_times, start_us)
        hi = bisect_right(self.trade_times, end_us)
        return self.trades[lo:hi]

    def agg_query(
        self, from_id: int | None, start_us: int | None, end_us: int | None, limit: int
    ) -> list[AggTrade]:
        """Return aggregates as ``/api/v3/aggTrades`` selects them."""
        if from_id is not None:
            start = bisect_left(self.agg_ids, from_id)
            return self.aggs[start : start + limit]
        if start_us is not None:
            lo = bisect_left(self.agg_times, start_us)
            hi = len(self.aggs) if end_us is None else bisect_right(self.agg_times, end_us)
            return self.aggs[lo : min(hi, lo + limit)]
        if end_us is not None:
            hi = bisect_right(self.agg_times, end_us)
            return self.aggs[max(0, hi - limit) : hi]
        return self.aggs[-limit:]


@dataclass(slots=True)
class TradeStore:
    """The tapes of every symbol the market knows, created up front."""

    retention: int
    tapes: dict[str, SymbolTape] = field(default_factory=dict)

    def ensure(self, symbol: str) -> SymbolTape:
        """Return the tape of *symbol*, creating it if needed."""
        tape = self.tapes.get(symbol)
        if tape is None:
            tape = self.tapes[symbol] = SymbolTape(self.retention)
        return tape
