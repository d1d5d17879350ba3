"""Which symbols the API answers for, and the status the collector reports for each.

``TICKVAULT_SYMBOLS`` (:class:`tickvault.symbols.Selection`) names symbols, ``ALL`` or
patterns. The API tracks every explicit name, plus — when the selection holds ``ALL`` or a
pattern — every symbol of the collector's Redis hash :attr:`tickvault.keys.RedisKeys.symbols`
that the selection matches. The hash also gives each symbol's status (``TRADING``, ``HALT``,
``UNLISTED``, …); a symbol the collector has not reported yet has none. A name the exchange
lists that tickvault cannot store is reported there as ``UNSUPPORTED`` with its reason
(:attr:`Tracked.unsupported`), never tracked.

Reading and parsing a hash of 2,000 symbols on every request would cost more than the
request, so each process keeps the result for ``TICKVAULT_API_SYMBOLS_REFRESH_SECONDS``
(:class:`TrackedSymbols`). When Redis fails, the last good answer is kept; with none, an
explicit selection still answers with its names and a pattern selection is ``unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import overload

from tickvault.redisconn import REDIS_ERRORS
from tickvault.symbols import Selection, Status, reported, unsupported
from tickvault_api.errors import Unavailable
from tickvault_api.refreshed import Refreshed


class Tracked(Sequence[str]):
    """The tracked symbols (explicit names first, in their configured order, then by name).

    A sequence of names with an O(1) ``in``, and each reported symbol's status.
    """

    __slots__ = ("_index", "statuses", "symbols", "unsupported")

    def __init__(
        self,
        symbols: tuple[str, ...],
        statuses: Mapping[str, tuple[Status, int]] | None = None,
        unsupported: Mapping[str, str] | None = None,
    ) -> None:
        self.symbols = symbols
        self.statuses = statuses or {}  # (status, since µs); absent: not reported yet
        self.unsupported = unsupported or {}  # listed names tickvault cannot store: why
        self._index = frozenset(symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def __len__(self) -> int:
        return len(self.symbols)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self.symbols[index]


def tracked_from(selection: Selection, fields: Mapping[bytes, bytes]) -> Tracked:
    """Return what *selection* tracks, given the symbols hash the collector fills (pure)."""
    found = reported(selection, fields)
    statuses = {s: v for s, v in found.items() if v is not None}
    return Tracked(tuple(found), statuses, unsupported(fields))


class TrackedSymbols:
    """The tracked symbols of one process, re-read from Redis at most every *ttl_seconds*."""

    def __init__(
        self,
        selection: Selection,
        read_hash: Callable[[], Mapping[bytes, bytes]],
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._selection = selection
        self._tracked = Refreshed(
            lambda: tracked_from(selection, read_hash()),
            ttl_seconds,
            what="the tracked symbols",
            kept_on=REDIS_ERRORS,
            retry_s=min(ttl_seconds, 1.0),
            clock=clock,
        )

    def current(self) -> Tracked:
        """Return the tracked symbols, refreshing them when they are older than the TTL."""
        try:
            return self._tracked.get()
        except REDIS_ERRORS as exc:  # and no answer kept yet
            if self._selection.is_explicit:
                return Tracked(self._selection.names)
            raise Unavailable(
                f"Redis cannot answer right now ({type(exc).__name__}), so the symbols "
                "matched by TICKVAULT_SYMBOLS are not known"
            ) from exc
