"""What REST serves: the trades and aggregates that have happened, per symbol.

The market appends to a :class:`SymbolTape` as it releases events, so REST never shows a
trade before it happened. Each tape keeps at most ``retention`` items (the oldest go first),
like Binance's REST database that does not hold the whole history, and one-minute bars for
the rolling-window tickers. The store remembers which symbols traded since the ticker stream
last asked, and which symbols have a bar in each minute (so a window sliding past a minute
knows whose statistics changed).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tickvault_replay.decimals import to_units
from tickvault_replay.model import AggTrade, Trade
from tickvault_replay.rolling import DAY_MS, MINUTE_MS, MinuteBars

T = TypeVar("T")
_PLACES = 8


@dataclass(slots=True)
class Series(Generic[T]):
    """Items in id (and time) order with id and time indexes, the oldest trimmed away."""

    retention: int
    items: list[T] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)

    def add(self, item: T, item_id: int, time_us: int) -> None:
        """Append *item*; beyond a quarter over ``retention``, drop down to it."""
        self.items.append(item)
        self.ids.append(item_id)
        self.times.append(time_us)
        if len(self.items) > self.retention + self.retention // 4 + 16:
            cut = len(self.items) - self.retention
            del self.items[:cut], self.ids[:cut], self.times[:cut]

    def from_id(self, from_id: int, limit: int) -> list[T]:
        """Return up to *limit* items with id >= *from_id*."""
        start = bisect_left(self.ids, from_id)
        return self.items[start : start + limit]

    def between(self, start_us: int, end_us: int) -> list[T]:
        """Return the items with ``start_us <= time <= end_us``."""
        return self.items[bisect_left(self.times, start_us) : bisect_right(self.times, end_us)]


@dataclass(slots=True)
class SymbolTape:
    """One symbol's released trades and aggregates, its minute bars and its latest book."""

    retention: int
    trade_series: Series[Trade] = field(init=False)
    agg_series: Series[AggTrade] = field(init=False)
    bars: MinuteBars = field(default_factory=MinuteBars)
    first_id: int | None = None
    released: int = 0
    book: bytes = b""

    def __post_init__(self) -> None:
        self.trade_series = Series(self.retention)
        self.agg_series = Series(self.retention)

    @property
    def trades(self) -> list[Trade]:
        """Return the retained trades, oldest first."""
        return self.trade_series.items

    @property
    def last_id(self) -> int | None:
        """Return the id of the last trade that happened."""
        ids = self.trade_series.ids
        return ids[-1] if ids else None

    def add_agg(self, agg: AggTrade) -> None:
        """Record that *agg* has happened."""
        self.agg_series.add(agg, agg.id, agg.time_us)

    def recent(self, limit: int) -> list[Trade]:
        """Return the most recent *limit* trades, oldest first."""
        return self.trades[-limit:] if limit > 0 else []

    def from_id(self, from_id: int, limit: int) -> list[Trade]:
        """Return up to *limit* trades with id >= *from_id*."""
        return self.trade_series.from_id(from_id, limit)

    def trades_between(self, start_us: int, end_us: int) -> list[Trade]:
        """Return the trades with ``start_us <= time <= end_us``."""
        return self.trade_series.between(start_us, end_us)

    def agg_query(
        self, from_id: int | None, start_us: int | None, end_us: int | None, limit: int
    ) -> list[AggTrade]:
        """Return aggregates as ``/api/v3/aggTrades`` selects them."""
        series = self.agg_series
        if from_id is not None:
            return series.from_id(from_id, limit)
        if start_us is not None:
            lo = bisect_left(series.times, start_us)
            hi = len(series.items) if end_us is None else bisect_right(series.times, end_us)
            return series.items[lo : min(hi, lo + limit)]
        if end_us is not None:
            hi = bisect_right(series.times, end_us)
            return series.items[max(0, hi - limit) : hi]
        return series.items[-limit:]


@dataclass(slots=True)
class TradeStore:
    """The tapes of every symbol the market knows, and who traded lately."""

    retention: int
    tapes: dict[str, SymbolTape] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    by_minute: dict[int, list[str]] = field(default_factory=dict)

    def ensure(self, symbol: str) -> SymbolTape:
        """Return the tape of *symbol*, creating it if needed."""
        tape = self.tapes.get(symbol)
        if tape is None:
            tape = self.tapes[symbol] = SymbolTape(self.retention)
        return tape

    def add_trade(self, tape: SymbolTape, trade: Trade) -> None:
        """Record that *trade* (of *tape*'s symbol) has happened."""
        if tape.first_id is None:
            tape.first_id = trade.id
        tape.released += 1
        tape.trade_series.add(trade, trade.id, trade.time_us)
        time_ms = trade.time_us // 1000
        price, qty = to_units(trade.price, _PLACES), to_units(trade.qty, _PLACES)
        if tape.bars.add(time_ms, price, qty, trade.id):
            minute = time_ms - time_ms % MINUTE_MS
            bucket = self.by_minute.get(minute)
            if bucket is None:
                bucket = self.by_minute[minute] = []
                self._forget_before(minute - DAY_MS - 2 * MINUTE_MS)
            bucket.append(trade.symbol)
        self.changed.add(trade.symbol)

    def _forget_before(self, minute: int) -> None:
        for old in [m for m in self.by_minute if m < minute]:
            del self.by_minute[old]

    def take_changed(self) -> set[str]:
        """Return (and reset) the symbols that traded since the last call."""
        changed, self.changed = self.changed, set()
        return changed

    def traded_in(self, start_ms: int, end_ms: int) -> set[str]:
        """Return the symbols with a bar in a minute from *start_ms* up to (not) *end_ms*."""
        return {s for m, names in self.by_minute.items() if start_ms <= m < end_ms for s in names}
