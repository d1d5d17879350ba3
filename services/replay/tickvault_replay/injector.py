"""Hold the loaded faults and answer, per trade or request, which of them apply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from tickvault_replay.faults import (
    Action,
    ConnFault,
    Delay,
    Drop,
    Duplicate,
    Fault,
    Handshake429,
    Lifetime,
    Malformed,
    RestError,
    TradeRule,
    action_for,
    make_rule,
)
from tickvault_replay.model import Trade

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Counter:
    status: int
    remaining: int
    retry_after: int
    path: str | None = None


class FaultInjector:
    """The active faults; trade rules are consulted only while any exist."""

    def __init__(
        self, apply_conn: Callable[[ConnFault], None], set_lifetime: Callable[[float], None]
    ) -> None:
        self._apply_conn = apply_conn
        self._set_lifetime = set_lifetime
        self.rules: list[TradeRule] = []
        self.triggers: dict[tuple[str, int], list[ConnFault]] = {}
        self._handshakes: list[_Counter] = []
        self._rest: list[_Counter] = []
        self._timers: list[asyncio.TimerHandle] = []
        self.loaded = 0

    def load(self, faults: list[Fault]) -> None:
        """Activate *faults* (immediate ones act now)."""
        for fault in faults:
            self.loaded += 1
            log.info("fault loaded: %r", fault)
            if isinstance(fault, Drop | Duplicate | Delay | Malformed):
                self.rules.append(make_rule(fault))
            elif isinstance(fault, Lifetime):
                self._set_lifetime(fault.seconds)
            elif isinstance(fault, Handshake429):
                self._handshakes.append(_Counter(429, fault.count, fault.retry_after))
            elif isinstance(fault, RestError):
                self._rest.append(
                    _Counter(fault.status, fault.count, fault.retry_after, fault.path)
                )
            elif fault.at_trade_id is not None:
                key = ((fault.symbol or "*").upper(), fault.at_trade_id)
                self.triggers.setdefault(key, []).append(fault)
            elif fault.after_s is not None:
                loop = asyncio.get_running_loop()
                self._timers.append(loop.call_later(fault.after_s, self._apply_conn, fault))
            else:
                self._apply_conn(fault)

    def clear(self) -> None:
        """Deactivate every fault."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.rules.clear()
        self.triggers.clear()
        self._handshakes.clear()
        self._rest.clear()

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

    def take_handshake(self) -> _Counter | None:
        """Consume one scripted handshake refusal, if any is left."""
        return _take(self._handshakes, None)

    def take_rest(self, path: str) -> _Counter | None:
        """Consume one scripted REST error for *path*, if any is left."""
        return _take(self._rest, path)


def _take(counters: list[_Counter], path: str | None) -> _Counter | None:
    for counter in counters:
        if counter.remaining > 0 and (counter.path is None or counter.path == path):
            counter.remaining -= 1
            if counter.remaining == 0:
                counters.remove(counter)
            return counter
    return None
