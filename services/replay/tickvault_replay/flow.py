"""One synthetic symbol's order flow: when its taker orders arrive and what each one fills.

Every symbol draws from its own ``random.Random(f"{seed}:{symbol}")``, so its trades (prices,
sizes, gaps between orders) depend only on the seed and on when it trades. Arrivals switch
between calm and hot regimes (exponential durations, long enough to span several orders of
even a quiet symbol), each taker order sweeps a Pareto-distributed number of fills through
the book, sizes are Pareto. Ids are handed out when an order is filled, not when its arrival
is drawn, so a symbol halted between two orders skips no id; they obey
:func:`~tickvault_replay.ids.not_before_us`.
"""

from __future__ import annotations

import random

from tickvault.symbols import stream_symbol
from tickvault_replay.aggregate import build_agg
from tickvault_replay.decimals import format_units, to_units
from tickvault_replay.ids import not_before_us
from tickvault_replay.model import Event, Trade
from tickvault_replay.symbols import SymbolSpec

_PLACES = 8
_MAX_FILLS = 40
_FILL_ALPHA = 1.5
_SIZE_ALPHA = 1.3
_CALM_S, _CALM_ORDERS, _HOT_SHARE = 5.0, 10.0, 0.2
_CALM_X, _HOT_X = 2 / 3, 8 / 3  # time-weighted mean of the two rates is 1
_MEAN_FILLS = float(sum(float(k) ** -_FILL_ALPHA for k in range(1, _MAX_FILLS + 1)))


class SymbolFlow:
    """A symbol's order model, its next arrival and its next trade id."""

    __slots__ = (
        "agg_id",
        "agg_stream",
        "anchor",
        "base_steps",
        "book_stream",
        "calm_s",
        "generation",
        "hot",
        "level",
        "next_id",
        "now",
        "order_rate",
        "regime_end",
        "rng",
        "sigma",
        "step",
        "symbol",
        "tick",
        "trade_stream",
        "trading",
        "update_id",
    )

    def __init__(
        self, spec: SymbolSpec, seed: int, rate: float, start_us: int, first_id: int
    ) -> None:
        self.symbol = spec.symbol
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.tick = to_units(spec.tick, _PLACES)
        self.step = to_units(spec.step, _PLACES)
        self.anchor = self.level = max(1, to_units(spec.price, _PLACES) // self.tick)
        notional = self.anchor * self.tick // 10**_PLACES
        self.base_steps = (
            max(1, to_units("0.0005", _PLACES) * 60000 // max(1, notional) // self.step)
            if notional >= 1
            else 50
        )
        self.order_rate = rate / _MEAN_FILLS
        self.calm_s = max(_CALM_S, _CALM_ORDERS / self.order_rate) if rate > 0 else _CALM_S
        self.sigma = max(1.0, self.anchor * 3e-5)
        self.now = self.regime_end = start_us
        self.hot = False
        self.next_id = self.agg_id = first_id
        self.update_id = first_id * 13
        self.trading = True
        self.generation = 0
        lower = stream_symbol(spec.symbol)
        self.trade_stream = f"{lower}@trade"
        self.agg_stream = f"{lower}@aggTrade"
        self.book_stream = f"{lower}@bookTicker"

    def next_time(self) -> int | None:
        """Draw when the next taker order arrives (None: this symbol never trades)."""
        if self.order_rate <= 0:
            return None
        rng, now = self.rng, self.now
        if now >= self.regime_end:
            self.hot = not self.hot
            mean_s = self.calm_s * (_HOT_SHARE if self.hot else 1.0)
            self.regime_end = now + int(rng.expovariate(1 / mean_s) * 1e6)
        mult = _HOT_X if self.hot else _CALM_X
        self.now = now + max(1, int(rng.expovariate(self.order_rate * mult) * 1e6))
        return self.now

    def resume(self, now_us: int) -> None:
        """Continue from *now_us* after a halt (the flow's own clock never goes back)."""
        self.now = max(self.now, now_us)

    def fill(self) -> list[Event]:
        """Fill the order arriving now: its trades, their aggregates, then the bookTicker."""
        rng, tick = self.rng, self.tick
        if rng.random() < 0.3:
            self.level += round(rng.gauss(0, self.sigma) - (self.level - self.anchor) * 0.0003)
        self.level = max(1, self.level)
        sell = rng.random() < 0.5
        count = min(_MAX_FILLS, int(rng.paretovariate(_FILL_ALPHA)))
        self.now = now = max(self.now, not_before_us(self.next_id + count - 1))
        events: list[Event] = []
        group: list[Trade] = []
        for _ in range(count):
            steps = min(10**7, max(1, int(rng.paretovariate(_SIZE_ALPHA) * self.base_steps / 3)))
            price = format_units(self.level * tick, _PLACES)
            if group and group[-1].price != price:
                events.append(self._agg(group))
                group = []
            trade = Trade(
                self.symbol,
                self.next_id,
                price,
                format_units(steps * self.step, _PLACES),
                now,
                now,
                sell,
            )
            self.next_id += 1
            group.append(trade)
            events.append(Event(now, self.trade_stream, self.symbol, b"", trade=trade))
            if rng.random() < 0.35:
                self.level += -1 if sell else 1
        events.append(self._agg(group))
        events.append(self._book(now, sell))
        return events

    def _agg(self, group: list[Trade]) -> Event:
        agg = build_agg(group, self.agg_id)
        self.agg_id += 1
        return Event(agg.event_us, self.agg_stream, self.symbol, b"", agg=agg)

    def _book(self, now: int, sell: bool) -> Event:
        rng, tick, step = self.rng, self.tick, self.step
        self.update_id += rng.randint(1, 25)
        bid = self.level if sell else self.level - 1
        book = (
            f'{{"u":{self.update_id},"s":"{self.symbol}","b":"{format_units(bid * tick, _PLACES)}",'
            f'"B":"{format_units(rng.randint(1, 5000) * step, _PLACES)}",'
            f'"a":"{format_units((bid + 1) * tick, _PLACES)}",'
            f'"A":"{format_units(rng.randint(1, 5000) * step, _PLACES)}"}}'
        ).encode()
        return Event(now, self.book_stream, self.symbol, book)
