"""The gaps PostgreSQL holds open: ``trade_gaps`` rows not yet ``filled``, read by one query.

Two parts read them: the collector at start and after a stream loss (:func:`reopenable`: the
``detected`` rows it opened itself, to refill) and the auditor (every open row of a symbol,
closed once its ids are stored). A value this version does not know reads by one rule: an
unknown finder is the auditor, an unknown reason is the finder's default
(:data:`tickvault.codec.DEFAULT_REASON`: ``ws_gap`` for the collector, ``audit`` for the
auditor), as the codec reads a gap entry that names no reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from tickvault.codec import DEFAULT_REASON, GapFinder, GapReason, GapRecord, GapStatus
from tickvault.db.engine import make_engine
from tickvault.tick import datetime_to_us

log = logging.getLogger(__name__)

E = TypeVar("E", GapFinder, GapReason)

_OPEN = text(
    "SELECT symbol, first_id, last_id, status, found_by, detected_at, reason FROM trade_gaps"
    " WHERE symbol = ANY(:symbols) AND status <> 'filled' ORDER BY symbol, first_id, last_id"
)


@dataclass(frozen=True, slots=True)
class StoredGap:
    """A ``trade_gaps`` row not yet ``filled``."""

    symbol: str
    first_id: int
    last_id: int
    status: GapStatus
    found_by: GapFinder
    detected_at: int  # epoch µs
    reason: GapReason

    def record(self, status: GapStatus, filled_at: int | None) -> GapRecord:
        """Return the gap record that moves this row to *status*."""
        return GapRecord(
            self.symbol,
            self.first_id,
            self.last_id,
            status,
            self.detected_at,
            filled_at,
            self.found_by,
            self.reason,
        )


def read_open(conn: Connection, symbols: list[str]) -> list[StoredGap]:
    """Return the open ``trade_gaps`` rows of *symbols*, by symbol and first id."""
    return [stored_gap(*row) for row in conn.execute(_OPEN, {"symbols": symbols})]


def stored_gap(
    symbol: str,
    first: int,
    last: int,
    status: str,
    found_by: str,
    detected_at: datetime,
    reason: str,
) -> StoredGap:
    """Return one row of the open-gaps query as a :class:`StoredGap` (values this version
    does not know read by the module's one rule)."""
    finder = _known(GapFinder, str(found_by), GapFinder.AUDITOR)
    return StoredGap(
        str(symbol),
        int(first),
        int(last),
        GapStatus(str(status)),
        finder,
        datetime_to_us(detected_at),
        _known(GapReason, str(reason), DEFAULT_REASON[finder]),
    )


def _known(kind: type[E], value: str, default: E) -> E:
    try:
        return kind(value)
    except ValueError:
        return default


def reopenable(gaps: list[StoredGap]) -> list[StoredGap]:
    """Return the gaps a collector opened that are still ``detected`` (its to refill)."""
    return [g for g in gaps if g.status is GapStatus.DETECTED and g.found_by is GapFinder.COLLECTOR]


async def collector_gaps(database_url: str, symbols: list[str]) -> list[StoredGap] | None:
    """Return the collector's gaps PostgreSQL holds as ``detected`` (None: unreachable).

    A collector killed while refilling them, or a Redis that lost the records closing them,
    leaves them open: whoever captures the symbol refills them.
    """
    try:
        return reopenable(await asyncio.to_thread(_read, database_url, symbols))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("open gaps not read: PostgreSQL unreachable (%s)", type(exc).__name__)
        return None


def _read(url: str, symbols: list[str]) -> list[StoredGap]:
    engine = make_engine(
        url, application_name="tickvault-collector", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            return read_open(conn, symbols)
    finally:
        engine.dispose()
