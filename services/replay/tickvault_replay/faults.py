"""The fault script: its JSON schema (msgspec structs) and the engine that applies it.

Trade faults (drop, duplicate, delay, malformed) pick trades with a selector and act on the
WebSocket feed only; REST still serves every trade. Connection faults (silence,
abrupt_close, server_shutdown) hit the open connections (all, one by ``connection`` index, or
those carrying a ``stream``) when their trigger fires. Counters (handshake_429, rest_error,
rest_malformed) answer the next requests. ``lifetime`` sets the connection lifetime. Listing
events (list, status, delist) change the exchange's symbol list, now or ``after_s``. See
docs/REPLAY.md for the schema.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec

from tickvault.errors import TickvaultError
from tickvault_replay.model import Trade

NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class _Fault(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    pass


class _Selected(_Fault):
    symbol: str | None = None
    trade_ids: list[int] | None = None
    from_id: int | None = None
    to_id: int | None = None
    fraction: float | None = None
    seed: int = 0
    count: int | None = None


class Drop(_Selected, tag="drop"):
    """Leave the selected trades out of the WebSocket feed."""


class Duplicate(_Selected, tag="duplicate"):
    """Send the selected trade frames ``copies`` extra times."""

    copies: int = 1


class Delay(_Selected, tag="delay"):
    """Hold the selected trade frames back by ``ms`` (later frames overtake them)."""

    ms: int = 1000


class Malformed(_Selected, tag="malformed"):
    """Send a malformed frame just before each selected trade frame."""

    kind: Literal["truncated", "wrong_types", "unknown_event", "binary"] = "truncated"


class _Triggered(_Fault):
    symbol: str | None = None
    at_trade_id: int | None = None
    after_s: NonNegative | None = None
    connection: int | None = None
    stream: str | None = None


class Silence(_Triggered, tag="silence"):
    """Stop data and pings on the open connections (for ``seconds``, or for good)."""

    seconds: float | None = None


class AbruptClose(_Triggered, tag="abrupt_close"):
    """Drop the open connections' TCP sockets without a close frame (client sees 1006)."""


class ServerShutdown(_Triggered, tag="server_shutdown"):
    """Send ``serverShutdown`` (raw or combined shape), then close 1001 after a pause."""

    close_after_s: float = 1.0


class Lifetime(_Fault, tag="lifetime"):
    """Set the connection lifetime (Binance: 24 h); connections older than it close 1001."""

    seconds: float


class Handshake429(_Fault, tag="handshake_429"):
    """Refuse the next ``count`` WebSocket handshakes with HTTP 429."""

    count: int = 1
    retry_after: int = 1


class RestError(_Fault, tag="rest_error"):
    """Answer the next ``count`` REST requests (optionally of one path) with ``status``."""

    status: int = 429
    count: int = 1
    retry_after: int = 1
    path: str | None = None


class RestMalformed(_Fault, tag="rest_malformed"):
    """Answer the next ``count`` REST requests (optionally of one path) with a bad body."""

    kind: Literal["truncated", "not_json", "wrong_types", "missing_fields", "empty"] = "truncated"
    count: int = 1
    path: str | None = None
    symbols: list[str] | None = None


Status = Literal["TRADING", "HALT", "BREAK", "END_OF_DAY", "CANCEL_ONLY"]
# any name a stream can carry: lower-case and Unicode ones too, for bad-input tests
SymbolName = Annotated[str, msgspec.Meta(pattern=r'^[^\s@/!"]{1,50}$')]


class _Listing(_Fault, kw_only=True):
    symbol: SymbolName
    after_s: NonNegative | None = None


class ListSymbol(_Listing, tag="list"):
    """List *symbol* (or list it again): exchangeInfo shows it and it trades when TRADING."""

    status: Status = "TRADING"
    rate: NonNegative | None = None
    first_id: Annotated[int, msgspec.Meta(ge=0)] | None = None


class SetStatus(_Listing, tag="status", kw_only=True):
    """Change a listed symbol's status; anything but TRADING stops its trades."""

    status: Status


class Delist(_Listing, tag="delist"):
    """Take *symbol* off the exchange: gone from exchangeInfo, no more trades."""


ArchiveFaultKind = Literal[
    "missing", "truncated", "bad_checksum", "header", "id_hole", "replaced", "http_error"
]


class ArchiveFault(_Fault, tag="archive", kw_only=True):
    """Change one file of the public archive: a ``date`` (daily file) or ``month`` (monthly).

    ``missing``: 404; ``truncated``: the last rows left out (its checksum matches);
    ``bad_checksum``: the ``.CHECKSUM`` names another digest; ``header``: a header row first;
    ``id_hole``: ids left out of its middle; ``replaced``: the first download has a wrong row,
    later ones the corrected file (a new checksum); ``http_error``: the next ``count`` requests
    of the file or its checksum answer 503.
    """

    symbol: SymbolName
    date: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    month: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$")] | None = None
    fault: ArchiveFaultKind
    count: Annotated[int, msgspec.Meta(ge=1)] = 2

    def __post_init__(self) -> None:
        if (self.date is None) == (self.month is None):
            raise ValueError("an archive fault names exactly one of date and month")

    @property
    def period(self) -> str:
        """Return the day or month the fault applies to."""
        return self.date or self.month or ""


Fault = (
    Drop
    | Duplicate
    | Delay
    | Malformed
    | Silence
    | AbruptClose
    | ServerShutdown
    | Lifetime
    | Handshake429
    | RestError
    | RestMalformed
    | ListSymbol
    | SetStatus
    | Delist
    | ArchiveFault
)
ConnFault = Silence | AbruptClose | ServerShutdown
ListingEvent = ListSymbol | SetStatus | Delist


class _Script(msgspec.Struct, forbid_unknown_fields=True):
    faults: list[Fault]


class FaultError(TickvaultError, ValueError):
    """A fault script that does not match the schema."""


def parse_script(raw: bytes) -> list[Fault]:
    """Parse a script: ``{"faults": [...]}``, a list of faults, or one fault object."""
    text = raw.strip()
    try:
        if text.startswith(b"["):
            return msgspec.json.decode(text, type=list[Fault])
        if b'"faults"' in text:
            return msgspec.json.decode(text, type=_Script).faults
        return [msgspec.json.decode(text, type=Fault)]
    except msgspec.DecodeError as exc:
        raise FaultError(str(exc)) from exc


@dataclass(slots=True)
class TradeRule:
    """One trade fault with its running state (remaining count, random stream)."""

    fault: Drop | Duplicate | Delay | Malformed
    remaining: int | None
    ids: frozenset[int] | None
    rng: random.Random

    def matches(self, trade: Trade) -> bool:
        """Return whether the rule picks *trade*, consuming one of its count if so."""
        f = self.fault
        if self.remaining == 0 or (f.symbol is not None and f.symbol.upper() != trade.symbol):
            return False
        if self.ids is not None and trade.id not in self.ids:
            return False
        if f.from_id is not None and trade.id < f.from_id:
            return False
        if f.to_id is not None and trade.id > f.to_id:
            return False
        if f.fraction is not None and self.rng.random() >= f.fraction:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass(slots=True)
class Action:
    """What to do with one trade's frame."""

    drop: bool = False
    copies: int = 0
    delay_ms: int = 0
    malformed: list[str] = field(default_factory=list)


def make_rule(fault: Drop | Duplicate | Delay | Malformed) -> TradeRule:
    """Return the running rule of a trade fault."""
    count = fault.count
    if (
        count is None
        and isinstance(fault, Malformed)
        and not (fault.trade_ids or fault.from_id is not None or fault.fraction is not None)
    ):
        count = 1
    ids = frozenset(fault.trade_ids) if fault.trade_ids is not None else None
    return TradeRule(fault, count, ids, random.Random(fault.seed))


def action_for(rules: list[TradeRule], trade: Trade) -> Action | None:
    """Return the combined action of every rule that picks *trade*, or None."""
    action = None
    for rule in rules:
        if not rule.matches(trade):
            continue
        action = action or Action()
        f = rule.fault
        if isinstance(f, Drop):
            action.drop = True
        elif isinstance(f, Duplicate):
            action.copies += f.copies
        elif isinstance(f, Delay):
            action.delay_ms = max(action.delay_ms, f.ms)
        else:
            action.malformed.append(f.kind)
    return action
