"""A seeded synthetic market: bursty taker orders, heavy-tailed sizes, prices on the tick.

Every symbol draws from its own ``random.Random(f"{seed}:{symbol}")``, so a symbol's trades
(ids, prices, sizes, gaps between trades) depend only on the seed; times start at the
market's start. Arrivals switch between calm and hot regimes (exponential durations), each
taker order sweeps a Pareto-distributed number of fills through the book, sizes are Pareto.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

from tickvault_replay.aggregate import trade_event, with_aggs
from tickvault_replay.decimals import format_units, to_units
from tickvault_replay.model import Event, Trade
from tickvault_replay.symbols import SymbolSpec, spec_for

_PLACES = 8
_MAX_FILLS = 40
_FILL_ALPHA = 1.5
_SIZE_ALPHA = 1.3
_CALM_S, _HOT_S = 5.0, 1.0
_CALM_X, _HOT_X = 2 / 3, 8 / 3  # time-weighted mean of the two rates is 1


def _mean_fills() -> float:
    return float(sum(float(k) ** -_FILL_ALPHA for k in range(1, _MAX_FILLS + 1)))


def orders(
    spec: SymbolSpec, seed: int, rate: float, start_us: int, first_id: int
) -> Iterator[tuple[list[Trade], Event]]:
    """Yield each taker order's fills and the bookTicker that follows it."""
    rng = random.Random(f"{seed}:{spec.symbol}")
    tick = to_units(spec.tick, _PLACES)
    step = to_units(spec.step, _PLACES)
    anchor = to_units(spec.price, _PLACES) // tick
    level = anchor
    base_steps = (
        max(1, to_units("0.0005", _PLACES) * 60000 // max(1, anchor * tick // 10**8) // step)
        if anchor * tick >= 10**8
        else 50
    )
    order_rate = rate / _mean_fills()
    sigma = max(1.0, anchor * 3e-5)
    now, hot, regime_end = start_us, False, start_us
    trade_id, update_id = first_id, first_id * 13
    while True:
        if now >= regime_end:
            hot = not hot
            regime_end = now + int(rng.expovariate(1 / (_HOT_S if hot else _CALM_S)) * 1e6)
        mult = _HOT_X if hot else _CALM_X
        now += max(1, int(rng.expovariate(order_rate * mult) * 1e6))
        if rng.random() < 0.3:
            level += round(rng.gauss(0, sigma) - (level - anchor) * 0.0003)
        level = max(1, level)
        sell = rng.random() < 0.5
        fills = []
        for _ in range(min(_MAX_FILLS, int(rng.paretovariate(_FILL_ALPHA)))):
            steps = min(10**7, max(1, int(rng.paretovariate(_SIZE_ALPHA) * base_steps / 3)))
            fills.append(
                Trade(
                    spec.symbol,
                    trade_id,
                    format_units(level * tick, _PLACES),
                    format_units(steps * step, _PLACES),
                    now,
                    now,
                    sell,
                )
            )
            trade_id += 1
            if rng.random() < 0.35:
                level += -1 if sell else 1
        update_id += rng.randint(1, 25)
        bid = level if sell else level - 1
        book = (
            f'{{"u":{update_id},"s":"{spec.symbol}","b":"{format_units(bid * tick, _PLACES)}",'
            f'"B":"{format_units(rng.randint(1, 5000) * step, _PLACES)}",'
            f'"a":"{format_units((bid + 1) * tick, _PLACES)}",'
            f'"A":"{format_units(rng.randint(1, 5000) * step, _PLACES)}"}}'
        ).encode()
        yield fills, Event(now, f"{spec.symbol.lower()}@bookTicker", spec.symbol, book)


def _symbol_events(
    spec: SymbolSpec, seed: int, rate: float, start_us: int, first_id: int
) -> Iterator[Event]:
    for fills, book in orders(spec, seed, rate, start_us, first_id):
        for trade in fills:
            yield trade_event(trade)
        yield book


def synthetic_events(
    symbols: list[str], seed: int, rate: float, start_us: int, first_id: int = 1_000_000
) -> Iterator[Event]:
    """Yield the endless, time-ordered events of a synthetic market on *symbols*."""
    streams = [_symbol_events(spec_for(s), seed, rate, start_us, first_id) for s in symbols]
    merged = heapq.merge(*streams, key=lambda e: e.time_us)
    return with_aggs(merged, {s.upper() for s in symbols})
