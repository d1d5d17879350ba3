"""An independent reader of the real trade recordings, for computing expected values.

Deliberately separate from the replay exchange's loader: a test's expectation must not come
from the code under test.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import TRADE_RECORDINGS

from tickvault.tick import Source, Tick


@dataclass(frozen=True)
class RecordedTrade:
    """One ``@trade`` frame of a recording, fields as Binance sent them."""

    received_ns: int
    raw: str
    symbol: str
    trade_id: int
    price: str
    quantity: str
    trade_time_ms: int
    event_time_ms: int
    is_buyer_maker: bool

    def tick(self, received_at: int | None = None) -> Tick:
        """Return the tick the collector makes of this trade (received when recorded)."""
        return Tick(
            symbol=self.symbol,
            trade_id=self.trade_id,
            price=self.price,
            quantity=self.quantity,
            trade_time=self.trade_time_ms * 1000,
            event_time=self.event_time_ms * 1000,
            is_buyer_maker=self.is_buyer_maker,
            received_at=self.received_ns // 1000 if received_at is None else received_at,
            source=Source.WS,
        )


def read_trades(path: Path) -> list[RecordedTrade]:
    """Return the trades of a ``<ns> <frame>`` recording, in recorded order."""
    trades = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            ns, _, frame = line.rstrip("\n").partition(" ")
            data = json.loads(frame)["data"]
            if data.get("e") != "trade":
                continue
            trades.append(
                RecordedTrade(
                    received_ns=int(ns),
                    raw=frame,
                    symbol=data["s"],
                    trade_id=data["t"],
                    price=data["p"],
                    quantity=data["q"],
                    trade_time_ms=data["T"],
                    event_time_ms=data["E"],
                    is_buyer_maker=data["m"],
                )
            )
    return trades


def all_recorded_trades() -> dict[str, list[RecordedTrade]]:
    """Return every trade of both real recordings, by symbol."""
    out: dict[str, list[RecordedTrade]] = {}
    for path in TRADE_RECORDINGS:
        for trade in read_trades(path):
            out.setdefault(trade.symbol, []).append(trade)
    return out


# The first BTCUSDT trade of the real recording, as the collector makes it: one real tick for
# tests that need no file (test_foundation_codec checks it against the recording).
FIRST_BTC_TICK = Tick(
    symbol="BTCUSDT",
    trade_id=3735683259,
    price="61837.63000000",
    quantity="0.02000000",
    trade_time=1723161255342000,
    event_time=1723161255343000,
    is_buyer_maker=True,
    received_at=1723161254087896,
    source=Source.WS,
)
