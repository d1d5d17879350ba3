"""One symbol's import: its files in order, then the range's bounds and the repair of holes.

For each file (:mod:`.periods`): skip it when ``archive_files`` has it with the same checksum;
compare it when the checksum changed (a replaced file: differences are reported, the stored
rows stay, and the comparison is recorded so that it is reported once); otherwise download,
verify and store it in chunks through the writer's :class:`~tickvault_writer.store.PgStore`.
No file before the month of the symbol's first trade on REST is asked for. Then the range's
first and last id are asked of REST (:mod:`.bounds`), every hole (:mod:`.continuity`, and any
``archive`` gap a killed import left open) is recorded in ``trade_gaps`` as ``detected`` and
repaired from ``historicalTrades`` by the shared page loop
(:class:`~tickvault.rest.pages.PageFetcher`, at the archive's priority); its record ends
``filled``, or ``unfillable`` when REST no longer has every id. A range that reaches
yesterday runs on to the first trade live capture stored (or to the latest trade), so the past
meets the present without a hole.

With a cold tier (:class:`ColdTier`), trades of days past the hot window, from files and from
repairs alike, go straight to it (:mod:`.cold_days`), the rest to PostgreSQL; a file is
recorded as done only once both hold its rows, and its ids count for continuity either way.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from pathlib import Path

from sqlalchemy import Engine

from tickvault.codec import GapFinder, GapReason, GapRecord, GapStatus
from tickvault.cold.location import ColdLocation
from tickvault.rest.book import Gap, GapBook, pages_needed
from tickvault.rest.client import ExchangeRest
from tickvault.rest.pages import PageFetcher
from tickvault.tick import Source, Tick, us_to_datetime
from tickvault_writer.archive.bounds import RestTrades
from tickvault_writer.archive.chunks import Chunk, FileShape, chunks
from tickvault_writer.archive.cold_days import ColdDays, Flushed
from tickvault_writer.archive.continuity import Continuity
from tickvault_writer.archive.download import Downloader, Outcome
from tickvault_writer.archive.ledger import DoneFile, Ledger
from tickvault_writer.archive.metrics import ImportMetrics
from tickvault_writer.archive.periods import ArchiveFile, day_us, days_of, plan
from tickvault_writer.archive.progress import Progress
from tickvault_writer.batch import Batch
from tickvault_writer.store import PgStore, Rows, TickRows, WriteResult

EMPTY_PAGES_BEFORE_GIVING_UP = 3  # empty answers in a row: REST has nothing there
FAILED_PAGES_BEFORE_GIVING_UP = 2  # each page is already tried 8 times by the client


@dataclass
class FileReport:
    """What one file brought."""

    period: str
    outcome: str  # imported, skipped, missing, unavailable, bad_checksum, replaced, ...
    rows: int = 0
    inserted: int = 0
    refused: int = 0
    header: bool = False
    micros: bool | None = None
    detail: str = ""


@dataclass
class HoleReport:
    """One hole of the range and what became of it."""

    first_id: int
    last_id: int
    status: str = GapStatus.DETECTED.value


@dataclass
class SymbolReport:
    """One symbol's import."""

    symbol: str
    first_id: int | None = None
    last_id: int | None = None
    listed: bool = True
    files: list[FileReport] = field(default_factory=list)
    holes: list[HoleReport] = field(default_factory=list)
    rows: int = 0
    inserted: int = 0
    cold_rows: int = 0  # of the rows and repairs, those stored in the cold tier
    repaired: int = 0
    rest_calls: int = 0
    repair_calls_planned: int = 0  # the REST backlog its holes made (historicalTrades calls)

    @property
    def complete(self) -> bool:
        """Return whether every id of the range is stored."""
        return all(h.status == GapStatus.FILLED.value for h in self.holes)


@dataclass(frozen=True)
class ColdTier:
    """Where the days before :attr:`before` go instead of PostgreSQL."""

    engine: Engine
    location: ColdLocation
    before: date


@dataclass
class Context:
    """What every symbol's import shares."""

    archive_url: str
    store: PgStore
    ledger: Ledger
    downloader: Downloader
    progress: Progress
    rest: ExchangeRest
    cold: ColdTier | None = None
    metrics: ImportMetrics = field(default_factory=ImportMetrics)


def _batch(ticks: tuple[Tick, ...] = (), gaps: tuple[GapRecord, ...] = ()) -> Batch:
    return Batch((), ticks, (), gaps, (), ())


def _record(gap: Gap, status: GapStatus) -> GapRecord:
    """Return *gap*'s ``trade_gaps`` record (an import's holes count as found by an audit)."""
    return gap.record(status, time.time_ns() // 1000, GapFinder.AUDITOR)


def _already_compared(period: str, done: DoneFile) -> FileReport:
    """Return the report of a replaced file an earlier run compared (nothing is read)."""
    at = done.compared_at
    when = f" on {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if at is not None else ""
    sha = (done.replaced_sha256 or "")[:12]
    return FileReport(
        period,
        "already_compared",
        detail=f"replaced file {sha}… already compared{when}: {done.replaced_detail}",
    )


class SymbolImport:
    """Import *symbol*'s ``first``..``last`` days."""

    def __init__(self, ctx: Context, symbol: str, first: date, last: date, today: date) -> None:
        self.ctx, self.symbol, self.first, self.last, self.today = ctx, symbol, first, last, today
        self.report = SymbolReport(symbol)
        self.rest = RestTrades(ctx.rest, symbol)
        self.continuity = Continuity()
        self._first_of_file: int | None = None
        self._last_of_file: int | None = None
        cold = ctx.cold
        self.cold_days = (
            None if cold is None else ColdDays(cold.engine, cold.location, symbol, cold.before)
        )

    async def run(self) -> SymbolReport:
        """Import the files, then make the range complete; return what happened."""
        self.report.listed, opening = await self.rest.opening()
        if opening is not None:  # no file before the listing month: never ask for one
            listed_in = us_to_datetime(opening.trade_time).date().replace(day=1)
            self.first = max(self.first, listed_in)
        done = self.ctx.ledger.done(self.symbol)
        queue = plan(self.symbol, self.first, self.last, self.today)
        self.ctx.progress.files(len(queue))
        while queue:
            archive_file = queue.pop(0)
            fallback = await self._file(archive_file, done)
            self.ctx.progress.files(len(fallback))
            queue[:0] = fallback
        await self._complete()
        return self.report

    async def _file(self, f: ArchiveFile, done: dict[str, DoneFile]) -> list[ArchiveFile]:
        """Import one file; return the daily files to read instead of a missing month."""
        started = time.monotonic()
        url = f.url(self.ctx.archive_url)
        previous = done.get(f.period)
        if previous is not None:
            sha = await self.ctx.downloader.checksum(url)
            if previous.first_id is not None and previous.last_id is not None:
                self.continuity.see_span(previous.first_id, previous.last_id)
            if not sha or sha == previous.sha256:
                self._done(FileReport(f.period, "skipped", previous.rows), started)
            elif sha == previous.replaced_sha256:
                self._done(_already_compared(f.period, previous), started)
            else:
                self._done(await self._compare(f, url), started)
            return []
        fetched = await self.ctx.downloader.fetch(url)
        if fetched.outcome is Outcome.MISSING and f.monthly:
            self.ctx.progress.files(-1)
            return days_of(f)
        if fetched.outcome is not Outcome.OK or fetched.path is None:
            self._done(FileReport(f.period, fetched.outcome.value, detail=fetched.detail), started)
            return []
        try:
            report = self._store(f, fetched.path)
        finally:
            fetched.path.unlink(missing_ok=True)
        report.detail = "; ".join(d for d in (fetched.detail, report.detail) if d)
        ids = self._ids
        self.ctx.ledger.record(self.symbol, f.period, fetched.sha256, report.rows, ids)
        self._done(report, started)
        return []

    def _done(self, report: FileReport, started: float) -> None:
        self.report.files.append(report)
        self.report.rows += report.rows
        self.report.inserted += report.inserted
        self.ctx.metrics.files.labels(report.outcome).inc()
        self.ctx.metrics.trades.inc(report.rows)
        self.ctx.progress.file_done(self.symbol, report, time.monotonic() - started)

    def _store(self, f: ArchiveFile, path: Path) -> FileReport:
        """Store the rows of the zip at *path*, a block at a time; note their ids.

        This thread reads and prepares the next block (:mod:`.chunks`; Arrow lets go of the
        GIL) while the store commits the previous one in another (psycopg2 lets go of it
        while PostgreSQL works); each block is committed before the file can be counted as
        done, and at most two are in memory.
        """
        report = FileReport(f.period, "imported")
        shape = FileShape()
        self._first_of_file = self._last_of_file = None
        pending: Future[WriteResult] | None = None
        received_at = time.time_ns() // 1000
        with ThreadPoolExecutor(1, thread_name_prefix="import-store") as pool:
            for chunk in chunks(path, self.symbol, received_at, shape):
                self._note(chunk.ids)
                rows = self._hot(chunk, report)
                if rows is None:
                    continue
                if pending is not None:
                    self._stored(pending.result(), report)
                pending = pool.submit(self.ctx.store.write_rows, rows)
            if pending is not None:
                self._stored(pending.result(), report)
            if self.cold_days is not None:
                self._cold_stored(self.cold_days.flush(), report)
        report.refused, report.header, report.micros = shape.refused, shape.header, shape.micros
        report.detail = shape.first_refusal
        return report

    def _hot(self, chunk: Chunk, report: FileReport) -> Rows | None:
        """Send the block's trades of cold days to the cold tier; return what stays hot."""
        days = self.cold_days
        if not chunk.ids:
            return None
        if days is None or chunk.first_time >= days.cut_us:
            if days is not None:
                self._cold_stored(days.flush(), report)  # the hot days begin
            return chunk.rows
        cold, hot = days.split(chunk.rows.ticks())
        self._cold_stored(days.add(cold), report)
        if not hot:
            return None
        self._cold_stored(days.flush(), report)
        return TickRows(hot)

    def _cold_stored(self, flushed: Flushed, report: FileReport) -> None:
        report.rows += flushed.rows
        report.inserted += flushed.added
        self.report.cold_rows += flushed.rows
        self.ctx.progress.rows(flushed.rows)

    @property
    def _ids(self) -> tuple[int, int] | None:
        if self._first_of_file is None or self._last_of_file is None:
            return None
        return self._first_of_file, self._last_of_file

    def _note(self, ids: list[int]) -> None:
        """Note a block's ids: continuity, and the file's first and last."""
        if not ids:
            return
        self.continuity.see(ids)
        if self._first_of_file is None:
            self._first_of_file = ids[0]
        self._last_of_file = ids[-1]

    def _stored(self, result: WriteResult, report: FileReport) -> None:
        rows = result.inserted + result.duplicates
        report.rows += rows
        report.inserted += result.inserted
        self.ctx.progress.rows(rows)

    async def _compare(self, f: ArchiveFile, url: str) -> FileReport:
        """Compare a file the archive replaced with what is stored; change nothing but the
        record of the comparison (so it is reported once)."""
        fetched = await self.ctx.downloader.fetch(url)
        if fetched.outcome is not Outcome.OK or fetched.path is None:
            return FileReport(f.period, "replaced", detail=f"new file: {fetched.outcome.value}")
        differences: list[str] = []
        try:
            received_at = time.time_ns() // 1000
            for chunk in chunks(fetched.path, self.symbol, received_at, FileShape()):
                ticks = list(chunk.rows.ticks())
                differences += self.ctx.ledger.differences(ticks, f.bounds_us())
        finally:
            fetched.path.unlink(missing_ok=True)
        detail = (
            f"{len(differences)} rows differ from the stored ones (kept): "
            + "; ".join(differences[:3])
            if differences
            else "the new file agrees with every stored row"
        )
        self.ctx.ledger.compared(self.symbol, f.period, fetched.sha256, len(differences), detail)
        return FileReport(f.period, "replaced", rows=0, detail=detail)

    async def _complete(self) -> None:
        """Find the range's bounds over REST, then record and repair every hole."""
        rest = self.rest
        seen = self.continuity
        start: int | None = None
        end: int | None = None
        if self.report.listed:
            start = await rest.first_at(day_us(self.first), seen.first or 0)
            after = day_us(self.last + timedelta(days=1))
            end = await rest.first_at(after, (seen.last or start) + 1) - 1
            if self.last >= self.today - timedelta(days=1):
                live = self.ctx.ledger.stored_above(self.symbol, end, after)
                end = (
                    live - 1
                    if live is not None
                    else await rest.first_at(time.time_ns() // 1000, end + 1) - 1
                )
        self.report.first_id = start if start is not None else seen.first
        self.report.last_id = end if end is not None else seen.last
        holes = seen.holes(start, end)
        low, high = self.report.first_id, self.report.last_id
        if low is not None and high is not None:
            holes += self.ctx.ledger.open_gaps(self.symbol, low, high)
        await self._repair(rest, sorted(set(holes)))
        self.report.rest_calls = rest.calls

    def _repaired(self, page: list[Tick]) -> int:
        """Store a page of repaired trades (cold days to the cold tier); return how many are new."""
        days = self.cold_days
        hot = page
        added = 0
        if days is not None:
            cold, hot = days.split(page)
            added += self._repaired_cold(days.add(cold))
        if hot:
            added += self.ctx.store.write(_batch(tuple(hot))).inserted
        return added

    def _repaired_cold(self, flushed: Flushed) -> int:
        self.report.cold_rows += flushed.rows
        return flushed.added

    async def _repair(self, rest: RestTrades, holes: list[tuple[int, int]]) -> None:
        """Record every hole as ``detected``, then fill them from ``historicalTrades`` with the
        page loop every repair shares; a failure that is not REST refusing leaves them
        ``detected`` for the next run."""
        if not holes:
            return
        book = GapBook()
        now = time.time_ns() // 1000
        gaps = [book.open(self.symbol, a, b, now, GapReason.ARCHIVE) for a, b in holes]
        self.ctx.store.write(_batch(gaps=tuple(_record(g, GapStatus.DETECTED) for g in gaps)))
        reports = [HoleReport(g.first, g.last) for g in gaps]
        self.report.holes += reports
        if not self.report.listed:
            for gap, hole in zip(gaps, reports, strict=True):
                self._closed(gap, hole, GapStatus.UNFILLABLE)
            return
        pages = PageFetcher(
            self.ctx.rest,
            book,
            source=Source.ARCHIVE,
            empty_pages=EMPTY_PAGES_BEFORE_GIVING_UP,
            failures=FAILED_PAGES_BEFORE_GIVING_UP,
        )
        backlog = pages_needed(gaps)
        self.report.repair_calls_planned += backlog
        self._backlog(backlog)
        while book.gaps(self.symbol):
            page = await pages.page(self.symbol)
            rest.calls += 1
            if page.error is not None and not page.error.refused:
                self._backlog(-backlog)
                raise page.error  # the holes stay detected: the next run repairs them
            if page.ticks:
                self.report.repaired += self._repaired(page.ticks)
                self.ctx.metrics.repaired.inc(len(page.ticks))
            closed = pages.settle(self.symbol, page)
            if closed and self.cold_days is not None:
                self.report.repaired += self._repaired_cold(self.cold_days.flush())
            for gap in closed:
                given_up = any(gap is g for g in page.given_up)
                status = GapStatus.UNFILLABLE if gap.partial or given_up else GapStatus.FILLED
                self._closed(gap, reports[gaps.index(gap)], status)
            left = pages_needed(book.gaps(self.symbol))
            self._backlog(left - backlog)
            backlog = left

    def _backlog(self, calls: int) -> None:
        """Add *calls* to the REST calls the holes still need (negative: made)."""
        self.ctx.progress.backlog(calls)
        self.ctx.metrics.repair_calls.inc(calls)

    def _closed(self, gap: Gap, hole: HoleReport, status: GapStatus) -> None:
        """Record *gap* as *status* (its trades are stored)."""
        hole.status = status.value
        self.ctx.store.write(_batch(gaps=(_record(gap, status),)))
        self.ctx.metrics.holes.labels(status.value).inc()
