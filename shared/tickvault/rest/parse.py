"""Turn Binance REST bodies into typed values (pure): trade pages, error bodies, weights.

The :class:`WeightGate` paces requests under ``X-MBX-USED-WEIGHT-1M``: Binance counts weight
per calendar minute, so when the next request would pass the share we allow ourselves, the
gate waits for the minute to turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from tickvault.errors import FrameError, InvalidTick
from tickvault.tick import Source, Tick, to_us


class _RestTrade(msgspec.Struct):
    id: int
    price: str
    qty: str
    time: int
    isBuyerMaker: bool


class _ErrorBody(msgspec.Struct):
    code: int = 0
    msg: str = ""


_TRADES = msgspec.json.Decoder(list[_RestTrade])
_ERROR = msgspec.json.Decoder(_ErrorBody)
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, UnicodeError)


def parse_trades(symbol: str, body: bytes, received_at: int) -> list[Tick]:
    """Parse a ``/trades`` or ``/historicalTrades`` body into backfill ticks; FrameError if bad."""
    try:
        rows = _TRADES.decode(body)
    except _ERRORS as exc:
        raise FrameError(f"bad trades page for {symbol}: {exc}") from exc
    try:
        ticks = [
            Tick(
                symbol,
                row.id,
                row.price,
                row.qty,
                to_us(row.time),
                to_us(row.time),
                row.isBuyerMaker,
                received_at,
                Source.BACKFILL,
            )
            for row in rows
        ]
    except InvalidTick as exc:
        raise FrameError(f"bad trade in the {symbol} page: {exc}") from exc
    ids = [t.trade_id for t in ticks]
    if ids != sorted(ids):
        raise FrameError(f"trades page of {symbol} is not in id order")
    return ticks


def parse_error(body: bytes) -> tuple[int, str]:
    """Return Binance's ``(code, msg)`` from an error body, or ``(0, excerpt)``."""
    try:
        err = _ERROR.decode(body)
    except _ERRORS:
        return 0, body[:200].decode("utf-8", "replace")
    return err.code, err.msg


@dataclass(slots=True)
class WeightGate:
    """Keep REST weight under ``share * limit`` per calendar minute."""

    limit: int = 6000
    share: float = 0.5
    used: int = 0
    minute: int = -1

    @property
    def budget(self) -> int:
        """Return the weight we allow ourselves per minute."""
        return max(1, int(self.limit * self.share))

    def delay(self, cost: int, now: float, ceiling: float = 1.0) -> float:
        """Return how long to wait before spending *cost* weight at wall time *now*, using at
        most *ceiling* of the budget (a request alone in a fresh minute always goes)."""
        minute = int(now // 60)
        if minute != self.minute or self.used == 0:
            return 0.0
        if self.used + cost <= self.budget * ceiling:
            return 0.0
        return (minute + 1) * 60 - now + 0.05

    def spend(self, cost: int, now: float) -> None:
        """Count *cost* as spent at *now* (before the response says how much was used)."""
        minute = int(now // 60)
        if minute != self.minute:
            self.minute, self.used = minute, 0
        self.used += cost

    def observe(self, header: str | None, now: float) -> None:
        """Take the exchange's ``X-MBX-USED-WEIGHT-1M`` as the truth for this minute."""
        if header is None or not header.isdigit():
            return
        self.minute, self.used = int(now // 60), int(header)
