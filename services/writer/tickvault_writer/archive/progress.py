"""What an import shows while it runs: a rich progress bar on a terminal, else a line per file.

The bar counts files and trades (with the rate and the time left); the plain output writes
one line per file and per repaired range, fit for a log. Both go to stderr, so ``--json``
leaves stdout to the summary alone.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as RichProgress,
)

if TYPE_CHECKING:
    from tickvault_writer.archive.importer import FileReport


class Progress(Protocol):
    """Where an import reports as it goes."""

    def files(self, more: int) -> None:
        """Add *more* files to the total (negative: fewer)."""

    def file_done(self, symbol: str, report: FileReport, seconds: float) -> None:
        """Say that one file is done."""

    def rows(self, count: int) -> None:
        """Count *count* trades read."""

    def backlog(self, calls: int) -> None:
        """Add *calls* REST calls still needed to repair holes (negative: done)."""

    def close(self) -> None:
        """Finish the display."""


class LineProgress:
    """One line per file on a stream (a log, a pipe)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self._out = out
        self._total = self._done = self._backlog = 0

    def files(self, more: int) -> None:
        """Add *more* files to the total."""
        self._total += more

    def file_done(self, symbol: str, report: FileReport, seconds: float) -> None:
        """Write one line for the file."""
        self._done += 1
        unit = {None: "", True: " µs", False: " ms"}[report.micros]
        extra = f" ({report.detail})" if report.detail else ""
        rate = report.rows / seconds if seconds > 0 else 0.0
        self._out.write(
            f"[{self._done}/{self._total}] {symbol} {report.period}: {report.outcome},"
            f" {report.rows} rows, {report.inserted} new{unit}, {rate:,.0f} rows/s{extra}\n"
        )
        self._out.flush()

    def rows(self, count: int) -> None:
        """Nothing: the file's line says how many."""

    def backlog(self, calls: int) -> None:
        """Write the REST backlog when repairs begin."""
        if calls > 0:
            self._out.write(f"repairing holes: {calls} historicalTrades calls to make\n")
        self._backlog = max(0, self._backlog + calls)

    def close(self) -> None:
        """Nothing to finish."""


class BarProgress:
    """A rich progress bar: files, trades per second, time left."""

    def __init__(self, console: Console | None = None) -> None:
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._files: TaskID = self._bar.add_task("files", total=0, rate="")
        self._repair: TaskID | None = None
        self._rows = 0
        self._bar.start()

    def files(self, more: int) -> None:
        """Add *more* files to the bar's total."""
        task = self._bar.tasks[0]
        self._bar.update(self._files, total=(task.total or 0) + more)

    def file_done(self, symbol: str, report: FileReport, seconds: float) -> None:
        """Advance the bar by one file."""
        elapsed = self._bar.tasks[0].elapsed or 0.0
        rate = f"{self._rows / elapsed:,.0f} trades/s" if elapsed > 0 else ""
        self._bar.update(self._files, advance=1, rate=rate, description=f"{symbol} {report.period}")

    def rows(self, count: int) -> None:
        """Count trades for the rate."""
        self._rows += count

    def backlog(self, calls: int) -> None:
        """Show the repair's REST calls as a second bar."""
        if self._repair is None:
            self._repair = self._bar.add_task("REST repair", total=0, rate="")
        task = next(t for t in self._bar.tasks if t.id == self._repair)
        if calls > 0:
            self._bar.update(self._repair, total=(task.total or 0) + calls)
        else:
            self._bar.update(self._repair, advance=-calls)

    def close(self) -> None:
        """Stop the live display."""
        self._bar.stop()


def for_terminal(out: TextIO = sys.stderr) -> Progress:
    """Return a bar when *out* is a terminal, lines otherwise."""
    return BarProgress() if out.isatty() else LineProgress(out)
