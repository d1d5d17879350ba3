"""Binance's public data archive for the synthetic symbols: file names, CSV rows, zips.

``/data/spot/daily/trades/<S>/<S>-trades-<YYYY-MM-DD>.zip`` and
``/data/spot/monthly/trades/<S>/<S>-trades-<YYYY-MM>.zip``, each with a ``.CHECKSUM`` sibling
(``<sha256>  <file name>``), as ``binance-protocol.md`` §9 describes: one CSV member, no header,
columns ``id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch``, booleans ``True`` /
``False``, times in milliseconds before 2025-01-01 and microseconds from then on.

The rows come from :class:`~tickvault_replay.history.History`; a zip is written to disk once
(deterministic bytes, so its checksum never changes) and served from there. An archive fault
(:class:`~tickvault_replay.faults.ArchiveFault`) changes what one file holds or how it answers.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tickvault_replay.decimals import quote_qty
from tickvault_replay.history import MICROS_FROM_US, History
from tickvault_replay.model import Trade

HEADER = "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"
_NAME = re.compile(r"^(?P<symbol>.+)-trades-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip$")
HOLE_IDS = 7  # how many ids an ``id_hole`` file leaves out, from its middle
TRUNCATED_SHARE = 0.6  # the share of rows a ``truncated`` file keeps


@dataclass(frozen=True, slots=True)
class Period:
    """A day (``YYYY-MM-DD``) or a month (``YYYY-MM``) of the archive."""

    text: str
    start: date
    end: date  # exclusive

    @property
    def monthly(self) -> bool:
        """Return whether this is a month."""
        return len(self.text) == 7

    def bounds_us(self) -> tuple[int, int]:
        """Return the period as epoch µs, ``[start, end)``."""
        return _us(self.start), _us(self.end)


def _us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def parse_period(text: str) -> Period | None:
    """Return the day or month *text* names, or None when it names neither."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return Period(text, day, day + timedelta(days=1))
        if len(text) == 7:
            start = date.fromisoformat(text + "-01")
            end = (start + timedelta(days=32)).replace(day=1)
            return Period(text, start, end)
    except ValueError:
        return None
    return None


def parse_file_name(name: str) -> tuple[str, Period] | None:
    """Return (symbol, period) of an archive zip name, or None."""
    match = _NAME.match(name)
    if match is None:
        return None
    period = parse_period(match["period"])
    return None if period is None else (match["symbol"], period)


def csv_line(trade: Trade) -> str:
    """Return *trade* as one line of a spot trades file (no newline)."""
    t = trade.time_us if trade.time_us >= MICROS_FROM_US else trade.time_us // 1000
    return (
        f"{trade.id},{trade.price},{trade.qty},{quote_qty(trade.price, trade.qty)},{t},"
        f"{trade.buyer_maker},{trade.best_match}"
    )


def published(history: History, period: Period, today: date) -> bool:
    """Return whether the archive has published *period* of *history* by *today*."""
    first_day = datetime.fromtimestamp(history.origin_us / 1e6, UTC).date()
    return period.end <= today and period.end > first_day


def period_ids(history: History, period: Period) -> tuple[int, int]:
    """Return the first and last trade id *period* holds (last < first when it holds none)."""
    start, end = period.bounds_us()
    return history.day_ids(max(start, history.origin_us), end)


def file_rows(history: History, period: Period, fault: str | None, version: int) -> Iterator[str]:
    """Yield the CSV lines of *period*'s file, as *fault* shapes them (pure)."""
    first, last = period_ids(history, period)
    if fault == "header":
        yield HEADER
    if fault == "truncated":
        last = first + int((last - first + 1) * TRUNCATED_SHARE) - 1
    hole = (first + last) // 2 if fault == "id_hole" else None
    for trade in history.trades(first, last):
        if hole is not None and hole <= trade.id < hole + HOLE_IDS:
            continue
        line = csv_line(trade)
        if fault == "replaced" and version == 0 and trade.id == last:
            # the file first published had its last trade's quantity wrong
            parts = line.split(",")
            parts[2] = parts[2][:-1] + ("1" if parts[2][-1] != "1" else "2")
            line = ",".join(parts)
        yield line


def write_zip(path: Path, member: str, lines: Iterable[str]) -> str:
    """Write *lines* as the zip *path* holding one CSV *member*; return its sha256 (hex)."""
    tmp = path.with_suffix(".tmp")
    info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(tmp, "w") as archive, archive.open(info, "w") as out:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= 4096:
                out.write(("\n".join(chunk) + "\n").encode())
                chunk = []
        if chunk:
            out.write(("\n".join(chunk) + "\n").encode())
    digest = hashlib.sha256()
    with tmp.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    tmp.replace(path)
    return digest.hexdigest()


def checksum_text(sha256: str, name: str) -> str:
    """Return a ``.CHECKSUM`` file's text, as Binance writes it."""
    return f"{sha256}  {name}\n"
