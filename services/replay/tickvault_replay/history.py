"""A synthetic symbol's past: every trade a pure function of seed, symbol and trade id.

The replay exchange started with ``--archive-from`` has traded each synthetic symbol since
midnight UTC of that date, at a steady ``--archive-rate``: trade ``first_id + k`` happened in
the ``k``-th slot of ``period_us`` after the origin, at a point inside the slot drawn from a
hash of (seed, symbol, id). Its price is a slow wave around the symbol's typical price plus
hashed noise (a run of :data:`SWEEP` ids shares one price, as a taker's sweep does), its
size and side hashed too. Nothing is stored, so years of history cost no
memory; any trade, or the first trade at or after any instant, is computed on demand.

Binance wrote whole milliseconds before 2025-01-01 and microseconds from then on
(``binance-protocol.md`` §9), so the times before :data:`MICROS_FROM_US` are whole
milliseconds here too: the archive, ``historicalTrades`` and the live stream then agree on
every trade's time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

from tickvault_replay.decimals import format_units, to_units
from tickvault_replay.model import Trade
from tickvault_replay.symbols import SymbolSpec

MICROS_FROM_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z: the archive's switch to µs
US_PER_DAY = 86_400_000_000
_PLACES = 8
SWEEP = 8  # consecutive ids that share a price
_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """Return splitmix64 of *value*: a fast, well-spread 64-bit hash (pure)."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


@dataclass(frozen=True, slots=True)
class History:
    """The past trades of one symbol, from ``origin_us`` on, ids from ``first_id``."""

    spec: SymbolSpec
    seed: int
    origin_us: int
    first_id: int
    period_us: int
    end_id: int = 2**63 - 1  # the first id of the live stream (the past ends below it)

    @property
    def _key(self) -> int:
        digest = hashlib.blake2b(f"{self.seed}:{self.spec.symbol}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big")

    def time_of(self, trade_id: int) -> int:
        """Return the epoch-µs time of trade *trade_id* (at or above ``first_id``)."""
        k = trade_id - self.first_id
        slot = self.origin_us + k * self.period_us
        t = slot + _mix(self._key ^ trade_id) % self.period_us
        return t if t >= MICROS_FROM_US else t - t % 1000

    def first_at(self, time_us: int) -> int:
        """Return the id of the first trade at or after *time_us*."""
        k = max(0, (time_us - self.origin_us) // self.period_us - 1)
        trade_id = self.first_id + k
        while self.time_of(trade_id) < time_us:
            trade_id += 1
        return trade_id

    def trade(self, trade_id: int) -> Trade:
        """Return trade *trade_id* as Binance would publish it."""
        spec = self.spec
        h = _mix(self._key ^ (trade_id * 0x2545F4914F6CDD1D & _MASK))
        tick, step = to_units(spec.tick, _PLACES), to_units(spec.step, _PLACES)
        anchor = max(100, to_units(spec.price, _PLACES) // tick)
        # a taker sweeps SWEEP trades at one price, as on the real tape (prices repeat)
        sweep = trade_id // SWEEP
        wave = 0.002 * math.sin(sweep / 997.0) + 0.01 * math.sin(sweep / 76493.0)
        noise = _mix(self._key ^ sweep) & 0xF
        level = max(1, int(anchor * (1.0 + wave)) + noise - 8)
        steps = 1 + ((h >> 8) & 0x3FF) * ((h >> 20) & 0x7) + ((h >> 24) & 0x3F)
        time_us = self.time_of(trade_id)
        return Trade(
            spec.symbol,
            trade_id,
            format_units(level * tick, _PLACES),
            format_units(steps * step, _PLACES),
            time_us,
            time_us,
            bool((h >> 40) & 1),
        )

    def trades(self, first: int, last: int) -> Iterator[Trade]:
        """Yield trades ``first..last`` (ids), oldest first."""
        for trade_id in range(max(first, self.first_id), last + 1):
            yield self.trade(trade_id)

    def day_ids(self, day_start_us: int, day_end_us: int) -> tuple[int, int]:
        """Return the first and last id of the trades in ``[day_start_us, day_end_us)``."""
        return self.first_at(day_start_us), self.first_at(day_end_us) - 1
