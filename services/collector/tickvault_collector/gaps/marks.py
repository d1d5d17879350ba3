"""The resume mark per symbol: the highest id with every id up to it published (pure).

The publisher moves a symbol's mark (``collector_last_id``) with each batch it appends; it
asks :meth:`ResumeMarks.compute` what the marks are. A mark is the highest id published, held
below the first id still missing: an open gap's ``settled`` id (a page fetched but not yet in
the stream holds it back), the first id of a run of ticks the full buffer dropped, and the
first id a stream loss is about to reopen (:meth:`ResumeMarks.hold`). A collector killed at
any moment therefore resumes before every id it has not published.
"""

from __future__ import annotations

from collections.abc import Mapping

from tickvault.rest.book import GapBook


class ResumeMarks:
    """The highest id published per symbol, and the marks computed from it."""

    def __init__(self, book: GapBook, dropped: Mapping[str, list[int]]) -> None:
        """Hold the marks below *book*'s open gaps and below the *dropped* runs (symbol ->
        ``[first, last]`` of the ticks a full buffer refused, kept up to date by its owner)."""
        self._book = book
        self._dropped = dropped
        self.high: dict[str, int] = {}  # the highest id published (or resumed after)
        self.last: dict[str, int] = {}  # the mark per symbol, as last computed
        self._dirty: set[str] = set()  # symbols whose mark may move without a new trade
        self._holds: dict[str, int] = {}  # lost ids whose gaps are being opened: mark floor

    def start(self, symbol: str, mark: int) -> None:
        """Take *mark* as *symbol*'s position (it resumed after it)."""
        self.high.setdefault(symbol, mark)

    def touch(self, symbol: str) -> None:
        """Say that *symbol*'s mark may have moved (a gap closed or reopened)."""
        self._dirty.add(symbol)

    def hold(self, symbol: str, floor: int) -> None:
        """Keep *symbol*'s mark below *floor* until :meth:`release` (ids about to reopen)."""
        held = self._holds.get(symbol)
        self._holds[symbol] = floor if held is None else min(held, floor)
        self._dirty.add(symbol)

    def release(self, symbol: str) -> None:
        """Let the open gaps hold *symbol*'s mark again."""
        self._holds.pop(symbol, None)
        self._dirty.add(symbol)

    def compute(self, highs: dict[str, int]) -> dict[str, int]:
        """Return the marks a batch moves (*highs*: the highest id of each symbol in it),
        and those of the symbols touched since the last batch."""
        high = self.high
        for symbol, flushed in highs.items():
            if flushed > high.get(symbol, -1):
                high[symbol] = flushed
        touched = set(highs) | self._dirty
        self._dirty.clear()
        marks = {}
        for symbol in touched:
            top = high.get(symbol)
            if top is None:
                continue
            floor = self._book.first_missing(symbol)
            held = self._holds.get(symbol)
            if held is not None and (floor is None or held < floor):
                floor = held
            run = self._dropped.get(symbol)
            if run is not None and (floor is None or run[0] < floor):
                floor = run[0]
            marks[symbol] = top if floor is None else min(top, floor - 1)
        self.last.update(marks)
        return marks
