"""Hold the loaded faults and answer, per trade or request, which of them apply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tickvault_replay.faults import (
    Action,
    ArchiveFault,
    ConnFault,
    Delay,
    Delist,
    Drop,
    Duplicate,
    Fault,
    Handshake429,
    Lifetime,
    ListingEvent,
    ListSymbol,
    Malformed,
    RestError,
    RestMalformed,
    SetStatus,
    TradeRule,
    action_for,
    make_rule,
)
from tickvault_replay.model import Trade

log = logging.getLogger(__name__)

F = TypeVar("F")


class FaultTarget(Protocol):
    """What faults act on: the connections, their lifetime and the symbol list."""

    def apply_conn_fault(self, fault: ConnFault) -> None:
        """Apply a connection fault to the connections it selects."""

    def set_lifetime(self, seconds: float) -> None:
        """Set the connection lifetime for open and new connections."""

    def apply_listing(self, event: ListingEvent) -> object:
        """List, delist or change the status of a symbol."""


@dataclass(slots=True)
class Scripted:
    """A scripted answer to the next ``remaining`` requests (of ``path``, or any)."""

    status: int
    remaining: int
    retry_after: int = 0
    path: str | None = None
    malformed: RestMalformed | None = None


class FaultInjector:
    """The active faults; trade rules are consulted only while any exist."""

    def __init__(self, target: FaultTarget) -> None:
        self._target = target
        self.rules: list[TradeRule] = []
        self.triggers: dict[tuple[str, int], list[ConnFault]] = {}
        self._handshakes: list[Scripted] = []
        self._rest: list[Scripted] = []
        self._timers: list[asyncio.TimerHandle] = []
        self.archive: dict[tuple[str, str], ArchiveFault] = {}  # (SYMBOL, period) -> fault

    def load(self, faults: list[Fault]) -> None:
        """Activate *faults* (immediate ones act now)."""
        for fault in faults:
            log.info("fault loaded: %r", fault)
            if isinstance(fault, Drop | Duplicate | Delay | Malformed):
                self.rules.append(make_rule(fault))
            elif isinstance(fault, Lifetime):
                self._target.set_lifetime(fault.seconds)
            elif isinstance(fault, Handshake429):
                self._handshakes.append(Scripted(429, fault.count, fault.retry_after))
            elif isinstance(fault, RestError):
                self._rest.append(
                    Scripted(fault.status, fault.count, fault.retry_after, fault.path)
                )
            elif isinstance(fault, RestMalformed):
                self._rest.append(Scripted(200, fault.count, 0, fault.path, fault))
            elif isinstance(fault, ArchiveFault):
                self.archive[(fault.symbol.upper(), fault.period)] = fault
            elif isinstance(fault, ListSymbol | SetStatus | Delist):
                self._later(fault.after_s, self._target.apply_listing, fault)
            elif fault.at_trade_id is not None:
                key = ((fault.symbol or "*").upper(), fault.at_trade_id)
                self.triggers.setdefault(key, []).append(fault)
            else:
                self._later(fault.after_s, self._target.apply_conn_fault, fault)

    def _later(self, after_s: float | None, action: Callable[[F], object], fault: F) -> None:
        if after_s is None:
            action(fault)
        else:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(after_s, action, fault))

    def clear(self) -> None:
        """Deactivate every fault (scheduled listing events included)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.rules.clear()
        self.triggers.clear()
        self._handshakes.clear()
        self._rest.clear()
        self.archive.clear()

    def trade_action(self, trade: Trade) -> Action | None:
        """Return what the trade rules do to *trade*'s frame."""
        action = action_for(self.rules, trade)
        if action is not None and any(r.remaining == 0 for r in self.rules):
            self.rules = [r for r in self.rules if r.remaining != 0]
        return action

    def fired(self, trade: Trade) -> list[ConnFault]:
        """Return (and forget) the connection faults triggered by *trade*."""
        out = self.triggers.pop((trade.symbol, trade.id), [])
        out += self.triggers.pop(("*", trade.id), [])
        return out

    def take_handshake(self) -> Scripted | None:
        """Consume one scripted handshake refusal, if any is left."""
        return _take(self._handshakes, None)

    def take_rest(self, path: str) -> Scripted | None:
        """Consume one scripted REST answer for *path*, if any is left."""
        return _take(self._rest, path)


def _take(counters: list[Scripted], path: str | None) -> Scripted | None:
    for counter in counters:
        if counter.remaining > 0 and (counter.path is None or counter.path == path):
            counter.remaining -= 1
            if counter.remaining == 0:
                counters.remove(counter)
            return counter
    return None
