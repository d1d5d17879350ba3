"""A seeded synthetic market: every symbol's order flow on one heap, the market's only timer.

Two symbols or two thousand cost the same per trade: the heap holds one entry per trading
symbol (when its next order arrives), the pump pops the earliest when it is due and the flow
fills it (see ``flow``). No symbol has a task or a timer of its own. Halting a symbol
invalidates its entry; resuming or listing one pushes a new entry from the current clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from tickvault.symbols import canonical
from tickvault_replay.flow import SymbolFlow
from tickvault_replay.model import Event
from tickvault_replay.symbols import SymbolSpec, spec_for


class SyntheticSource:
    """The synthetic market's event source: flows by symbol, due orders on a heap."""

    finite = False

    def __init__(self, seed: int, start_us: int) -> None:
        self.seed = seed
        self.start_us = start_us
        self.flows: dict[str, SymbolFlow] = {}
        self._heap: list[tuple[int, int, int, SymbolFlow]] = []
        self._seq = itertools.count()

    def origin_us(self) -> int | None:
        """Return the market time the clock starts at."""
        return self.start_us

    def add(
        self, spec: SymbolSpec, rate: float, first_id: int, now_us: int, trading: bool = True
    ) -> None:
        """Start (or restart) the flow of *spec* at *now_us*, its first trade id *first_id*."""
        flow = SymbolFlow(spec, self.seed, rate, now_us, first_id)
        old = self.flows.get(spec.symbol)
        if old is not None:
            old.generation += 1  # its heap entry is stale now
        flow.trading = trading
        self.flows[spec.symbol] = flow
        if trading:
            self._schedule(flow)

    def set_trading(self, symbol: str, trading: bool, now_us: int) -> None:
        """Stop or resume *symbol*'s orders; ids continue where they stopped."""
        flow = self.flows.get(symbol)
        if flow is None or flow.trading == trading:
            return
        flow.trading = trading
        flow.generation += 1
        if trading:
            flow.resume(now_us)
            self._schedule(flow)

    def next_id(self, symbol: str) -> int | None:
        """Return the id *symbol*'s next trade will carry (None without a flow)."""
        flow = self.flows.get(symbol)
        return None if flow is None else flow.next_id

    def _schedule(self, flow: SymbolFlow) -> None:
        due = flow.next_time()
        if due is not None:
            heapq.heappush(self._heap, (due, next(self._seq), flow.generation, flow))

    def next_time(self) -> int | None:
        """Return when the next order is due (None: nothing is scheduled)."""
        heap = self._heap
        while heap:
            due, _, generation, flow = heap[0]
            if generation == flow.generation:
                return due
            heapq.heappop(heap)
        return None

    def take(self) -> list[Event]:
        """Fill the order due next and schedule that symbol's following one."""
        _, _, _, flow = heapq.heappop(self._heap)
        events = flow.fill()
        self._schedule(flow)
        return events


def synthetic_events(
    symbols: list[str], seed: int, rate: float, start_us: int, first_id: int = 1_000_000
) -> Iterator[Event]:
    """Yield the endless, time-ordered events of a synthetic market on *symbols*."""
    source = SyntheticSource(seed, start_us)
    for symbol in symbols:
        source.add(spec_for(canonical(symbol)), rate, first_id, start_us)
    while source.next_time() is not None:
        yield from source.take()
