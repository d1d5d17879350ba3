"""REST parameters as Binance reads them (pure): the error type, what an endpoint sees, and
the parsers of ``symbol``, ``symbols``, ``symbolStatus``, ``limit``, ids and times."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from tickvault.errors import TickvaultError
from tickvault_replay.history import History
from tickvault_replay.listings import Listings, Status
from tickvault_replay.store import TradeStore

# Binance's documented range plus non-ASCII letters (Unicode symbols are allowed since 2025-12)
_SYMBOL = re.compile(r"^(?:[A-Z0-9\-_.]|[^\x00-\x7f])+$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_SYMBOL_MISSING = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
_FILTERS = (Status.TRADING, Status.HALT, Status.BREAK)  # what symbolStatus accepts


class BinanceError(TickvaultError):
    """A Binance error body: HTTP status, code and message."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def bad_combination() -> BinanceError:
    """Return Binance's error for optional parameters that do not go together."""
    return BinanceError(-1128, "Combination of optional parameters invalid.")


@dataclass(frozen=True, slots=True)
class Context:
    """What the endpoints read: tapes, listings, the caller's time unit and the clocks."""

    store: TradeStore
    listings: Listings
    micros: bool
    now_ms: int  # wall clock: serverTime
    clock_ms: int  # market clock: where rolling windows end
    histories: Mapping[str, History] = field(default_factory=dict)  # archived pasts


def int_param(params: Mapping[str, str], name: str) -> int | None:
    """Return an optional unsigned integer parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DIGITS.match(raw):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


def limit_param(params: Mapping[str, str], default: int = 500, top: int = 1000) -> int:
    """Return ``limit`` (default 500, capped at 1000)."""
    limit = int_param(params, "limit")
    if limit is None:
        return default
    if limit < 1:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    return min(limit, top)


def time_param_us(params: Mapping[str, str], name: str) -> int | None:
    """Return a time parameter in µs (it may be sent in ms or µs)."""
    value = int_param(params, name)
    if value is None:
        return None
    return value if value >= 10**14 else value * 1000


def check_symbol(symbol: str | None, ctx: Context) -> str:
    """Return *symbol* if it is well-formed and listed; else Binance's error."""
    if not symbol:
        raise BinanceError(-1102, _SYMBOL_MISSING)
    if len(symbol) > 50 or not _SYMBOL.match(symbol):
        raise BinanceError(
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        )
    if symbol not in ctx.listings.specs:
        raise BinanceError(-1121, "Invalid symbol.")
    return symbol


def symbol_param(params: Mapping[str, str], ctx: Context) -> str:
    """Return the mandatory ``symbol``."""
    return check_symbol(params.get("symbol"), ctx)


def symbols_list(params: Mapping[str, str]) -> list[str] | None:
    """Return the ``symbols`` JSON array as sent (None without one); not yet checked."""
    raw = params.get("symbols")
    if raw is None:
        return None
    try:
        wanted = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.") from exc
    if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
        raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.")
    if not wanted:
        raise BinanceError(
            -1102, "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed."
        )
    if len(set(wanted)) != len(wanted):
        raise BinanceError(-1151, "Symbol is present multiple times in the list.")
    return wanted


def status_param(params: Mapping[str, str]) -> Status | None:
    """Return ``symbolStatus`` (TRADING, HALT or BREAK), or None without one."""
    raw = params.get("symbolStatus")
    if raw is None:
        return None
    for status in _FILTERS:
        if raw == status.value:
            return status
    raise BinanceError(-1122, "Invalid symbolStatus.")


def selected(params: Mapping[str, str], ctx: Context) -> tuple[list[str], bool]:
    """Return the symbols ``symbol``/``symbols``/none select (listing order for none), and
    whether one ``symbol`` was asked for; ``symbolStatus`` filters them as Binance does."""
    status = status_param(params)
    if "symbol" in params and "symbols" in params:
        raise bad_combination()
    if "symbol" in params:
        symbol = symbol_param(params, ctx)
        if status is not None and _status(ctx, symbol) is not status:
            message = "The symbol's status does not match the requested symbolStatus."
            raise BinanceError(-1220, message)
        return [symbol], True
    wanted = symbols_list(params)
    every = list(ctx.listings.specs)
    names = every if wanted is None else [check_symbol(s, ctx) for s in wanted]
    if status is not None:
        names = [s for s in names if _status(ctx, s) is status]
    return names, False


def _status(ctx: Context, symbol: str) -> Status | None:
    item = ctx.listings.get(symbol)
    return None if item is None else item.status
