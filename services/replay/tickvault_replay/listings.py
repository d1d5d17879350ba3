"""The exchange's symbol list: what ``exchangeInfo`` shows, each symbol's status, and changes.

Every symbol ever listed keeps its entry (and, in a synthetic market, its order flow), so one
that is delisted and listed again, or halted and resumed, continues its trade ids. A delisted
symbol is gone from ``exchangeInfo`` and its REST endpoints answer ``-1121``, as on Binance;
a halted (``HALT``, ``BREAK``, …) one is still listed, with that status, and prints nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tickvault_replay.symbols import SymbolSpec, symbol_info


class Status(enum.StrEnum):
    """Binance's symbol statuses (``enums.md``, older ones too); only TRADING prints trades."""

    TRADING = "TRADING"
    END_OF_DAY = "END_OF_DAY"
    HALT = "HALT"
    BREAK = "BREAK"
    CANCEL_ONLY = "CANCEL_ONLY"
    PRE_TRADING = "PRE_TRADING"
    POST_TRADING = "POST_TRADING"
    AUCTION_MATCH = "AUCTION_MATCH"


@dataclass(slots=True)
class Listing:
    """One symbol: reference data, status, mean trade rate and its exchangeInfo entry."""

    spec: SymbolSpec
    status: Status
    rate: float
    listed: bool = True
    info: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.info = symbol_info(self.spec)
        self.info["status"] = self.status.value

    def set_status(self, status: Status) -> None:
        """Change the status (exchangeInfo shows it at once)."""
        self.status = status
        self.info["status"] = status.value


class Listings:
    """Every symbol the exchange lists or once listed, in listing order."""

    def __init__(self) -> None:
        self._all: dict[str, Listing] = {}
        self.specs: dict[str, SymbolSpec] = {}  # listed symbols only, for REST lookups
        self.changes = 0

    def __iter__(self) -> Iterator[Listing]:
        """Iterate over the listed symbols in listing order."""
        return (item for item in self._all.values() if item.listed)

    def __len__(self) -> int:
        return len(self.specs)

    def get(self, symbol: str) -> Listing | None:
        """Return *symbol*'s listing if it is listed now."""
        item = self._all.get(symbol)
        return item if item is not None and item.listed else None

    def known(self, symbol: str) -> Listing | None:
        """Return *symbol*'s listing, listed now or once."""
        return self._all.get(symbol)

    def everything(self) -> list[Listing]:
        """Return every symbol ever listed, delisted ones included."""
        return list(self._all.values())

    def add(self, spec: SymbolSpec, status: Status, rate: float) -> Listing:
        """List a new symbol."""
        item = self._all[spec.symbol] = Listing(spec, status, rate)
        self.specs[spec.symbol] = spec
        self.changes += 1
        return item

    def relist(self, item: Listing, status: Status) -> None:
        """List again a symbol that was delisted (or just set its status)."""
        item.listed = True
        item.set_status(status)
        self.specs[item.spec.symbol] = item.spec
        self.changes += 1

    def delist(self, item: Listing) -> None:
        """Take a symbol off the list."""
        item.listed = False
        self.specs.pop(item.spec.symbol, None)
        self.changes += 1
