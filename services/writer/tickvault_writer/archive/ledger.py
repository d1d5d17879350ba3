"""What PostgreSQL knows of an import: ``archive_files``, open ``archive`` gaps, stored rows.

``archive_files`` holds one row per file an import stored (written after its last trades
are committed, so a file killed half-way is read again, its stored trades skipped as
duplicates). A file whose checksum changed since is compared row by row with what is stored
(:meth:`Ledger.differences`, over both tiers when a cold tier is given); the stored rows are
never overwritten. The comparison is recorded on the file's row (:meth:`Ledger.compared`), so
it is reported once: a later run that sees the same new checksum says so and reads nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from tickvault.cold.location import ColdLocation
from tickvault.cold.read import listed_files, read_trades
from tickvault.tick import Tick, datetime_to_us


@dataclass(frozen=True, slots=True)
class DoneFile:
    """A file an import stored."""

    sha256: str
    rows: int
    first_id: int | None
    last_id: int | None
    replaced_sha256: str | None = None  # the replacing file already compared, if one was
    replaced_detail: str = ""
    compared_at: datetime | None = None


_DONE = text(
    "SELECT period, sha256, rows, first_id, last_id, replaced_sha256, replaced_detail,"
    " compared_at FROM archive_files WHERE symbol = :symbol"
)
_COMPARED = text(
    "UPDATE archive_files SET replaced_sha256 = :sha256, replaced_differences = :differences,"
    " replaced_detail = :detail, compared_at = now() WHERE symbol = :symbol AND period = :period"
)
_RECORD = text(
    "INSERT INTO archive_files (symbol, period, sha256, rows, first_id, last_id, imported_at)"
    " VALUES (:symbol, :period, :sha256, :rows, :first_id, :last_id, now())"
    " ON CONFLICT (symbol, period) DO NOTHING"
)
_OPEN = text(
    "SELECT first_id, last_id FROM trade_gaps WHERE symbol = :symbol AND reason = 'archive'"
    " AND status = 'detected' AND last_id >= :low AND first_id <= :high ORDER BY first_id"
)
_STORED_ABOVE = text(
    "SELECT min(trade_id) FROM trades WHERE symbol = :symbol AND trade_time >= :since"
    " AND trade_id > :after"
)
_STORED = text(
    "SELECT trade_id, price::text, quantity::text, trade_time, is_buyer_maker FROM trades"
    " WHERE symbol = :symbol AND trade_id BETWEEN :first AND :last"
    " AND trade_time >= :start AND trade_time < :end"
)


class Ledger:
    """The import's reads and its bookkeeping writes."""

    def __init__(self, engine: Engine, cold: ColdLocation | None = None) -> None:
        self._engine = engine
        self.cold = cold  # where trades moved or imported past the hot window live

    def done(self, symbol: str) -> dict[str, DoneFile]:
        """Return the files of *symbol* already stored, by period."""
        with self._engine.connect() as conn:
            rows = conn.execute(_DONE, {"symbol": symbol}).all()
        return {r[0]: DoneFile(r[1], r[2], r[3], r[4], r[5], r[6] or "", r[7]) for r in rows}

    def compared(
        self, symbol: str, period: str, sha256: str, differences: int, detail: str
    ) -> None:
        """Note that the file with *sha256* that replaced *period*'s was compared."""
        params = {
            "symbol": symbol,
            "period": period,
            "sha256": sha256,
            "differences": differences,
            "detail": detail,
        }
        with self._engine.begin() as conn:
            conn.execute(_COMPARED, params)

    def record(
        self, symbol: str, period: str, sha256: str, rows: int, ids: tuple[int, int] | None
    ) -> None:
        """Note that *period*'s file of *symbol* is stored (the first record stays)."""
        first, last = ids if ids is not None else (None, None)
        with self._engine.begin() as conn:
            conn.execute(
                _RECORD,
                {
                    "symbol": symbol,
                    "period": period,
                    "sha256": sha256,
                    "rows": rows,
                    "first_id": first,
                    "last_id": last,
                },
            )

    def open_gaps(self, symbol: str, low: int, high: int) -> list[tuple[int, int]]:
        """Return the ``archive`` gaps of *symbol* within ``low..high`` not yet repaired."""
        with self._engine.connect() as conn:
            rows = conn.execute(_OPEN, {"symbol": symbol, "low": low, "high": high}).all()
        return [(int(a), int(b)) for a, b in rows]

    def stored_above(self, symbol: str, after: int, since_us: int) -> int | None:
        """Return the lowest stored id of *symbol* above *after* traded from *since_us* on."""
        since = datetime.fromtimestamp(since_us / 1e6, UTC)
        with self._engine.connect() as conn:
            value = conn.execute(
                _STORED_ABOVE, {"symbol": symbol, "after": after, "since": since}
            ).scalar()
        return None if value is None else int(value)

    def _cold(
        self, conn: Connection, symbol: str, span_us: tuple[int, int]
    ) -> dict[int, tuple[Any, ...]]:
        """Return the cold tier's trades of *span_us* as the stored rows' tuples."""
        if self.cold is None:
            return {}
        table = read_trades(self.cold, listed_files(conn, symbol, *span_us), *span_us)
        if table is None:
            return {}
        return {
            r["trade_id"]: (
                format(r["price"], "f"),
                format(r["quantity"], "f"),
                r["trade_time"],
                r["is_buyer_maker"],
            )
            for r in table.to_pylist()
        }

    def differences(self, ticks: Sequence[Tick], span_us: tuple[int, int]) -> list[str]:
        """Return how *ticks* (one file's, ascending) differ from the stored trades."""
        if not ticks:
            return []
        start, end = (datetime.fromtimestamp(us / 1e6, UTC) for us in span_us)
        params = {
            "symbol": ticks[0].symbol,
            "first": ticks[0].trade_id,
            "last": ticks[-1].trade_id,
            "start": start,
            "end": end,
        }
        with self._engine.connect() as conn:
            stored = self._cold(conn, ticks[0].symbol, span_us)
            stored.update({r[0]: r[1:] for r in conn.execute(_STORED, params).all()})
        out = []
        for t in ticks:
            row = stored.get(t.trade_id)
            if row is None:
                continue  # not stored: a hole, repaired like any other
            price, qty, when, maker = row
            if (price, qty, datetime_to_us(when), maker) != (
                t.price,
                t.quantity,
                t.trade_time,
                t.is_buyer_maker,
            ):
                out.append(
                    f"id {t.trade_id}: stored {price} x {qty} at {datetime_to_us(when)},"
                    f" archive now {t.price} x {t.quantity} at {t.trade_time}"
                )
        return out
