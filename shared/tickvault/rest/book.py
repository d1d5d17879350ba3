"""Open gaps per symbol, which to repair first, and how a page of REST trades closes them
(pure; the collector's repairs and ``tickvault import`` keep their gaps here).

A gap is a fixed id range from the moment its ``detected`` record is published until it is
``filled`` or ``unfillable`` (the writer keys ``trade_gaps`` on the range), opened for one
:class:`~tickvault.codec.GapReason`. Ranges open in the book never overlap
(:meth:`GapBook.uncovered`). A gap's ``next_id`` moves when a page is planned, its
``settled`` only once that page's trades are in the stream: the resume mark stays below
``settled`` (:meth:`GapBook.first_missing`), so a collector killed while a page is still in
its memory resumes before it. One
``historicalTrades`` page may cover several gaps of a symbol: :func:`plan_page` picks the rows
that fall inside open gaps and says which gaps that completes.

REST bounds how fast anything is repaired (a page of 1,000 trades costs 25 of the minute's
6,000 weight), so the order matters: :meth:`GapBook.next_symbol` repairs the oldest gap first
(REST forgets the oldest trades first), and among gaps found in the same second (a cut
connection's symbols) the symbol missing the most ids, the busiest. :meth:`GapBook.backlog`
says how many calls the open gaps still need and how old the oldest is.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from tickvault.codec import GapFinder, GapReason, GapRecord, GapStatus
from tickvault.rest.client import PAGE

SAME_TIME_US = 1_000_000  # gaps found within this of each other count as equally old


@dataclass(slots=True)
class Gap:
    """One open range of missing trade ids of a symbol."""

    symbol: str
    first: int
    last: int
    detected_at: int
    reason: GapReason = GapReason.WS_GAP
    next_id: int = -1  # the lowest id still wanted
    settled: int = -1  # the lowest id not yet in the stream
    partial: bool = False  # REST no longer had some of it

    def __post_init__(self) -> None:
        if self.next_id < 0:
            self.next_id = self.first
        if self.settled < 0:
            self.settled = self.first

    def record(
        self, status: GapStatus, now: int | None = None, found_by: GapFinder = GapFinder.COLLECTOR
    ) -> GapRecord:
        """Return the gap record of this range with *status*."""
        filled = now if status is not GapStatus.DETECTED else None
        return GapRecord(
            self.symbol,
            self.first,
            self.last,
            status,
            self.detected_at,
            filled,
            found_by,
            self.reason,
        )


@dataclass(slots=True)
class PagePlan:
    """What to do with one page of REST trades."""

    take: list[int] = field(default_factory=list)  # indexes of rows inside open gaps
    done: list[Gap] = field(default_factory=list)  # gaps the page completes
    next_from: int | None = None  # where the next request starts; None: nothing left


class GapBook:
    """Every open gap of every symbol, oldest ids first."""

    def __init__(self) -> None:
        self._open: dict[str, list[Gap]] = {}

    def open(
        self, symbol: str, first: int, last: int, now: int, reason: GapReason = GapReason.WS_GAP
    ) -> Gap:
        """Register the missing range ``first..last`` and return it (see :meth:`uncovered`)."""
        gap = Gap(symbol, first, last, now, reason)
        gaps = self._open.setdefault(symbol, [])
        gaps.append(gap)
        gaps.sort(key=lambda g: g.first)
        return gap

    def close(self, gap: Gap) -> None:
        """Forget a gap that was filled or given up."""
        gaps = self._open.get(gap.symbol)
        if gaps is not None and gap in gaps:
            gaps.remove(gap)
            if not gaps:
                del self._open[gap.symbol]

    def gaps(self, symbol: str) -> list[Gap]:
        """Return the open gaps of *symbol*, lowest ids first."""
        return list(self._open.get(symbol, ()))

    def symbols(self) -> list[str]:
        """Return the symbols with at least one open gap."""
        return [s for s, gaps in self._open.items() if gaps]

    def uncovered(self, symbol: str, first: int, last: int) -> list[tuple[int, int]]:
        """Return the parts of ``first..last`` no open gap of *symbol* covers."""
        parts: list[tuple[int, int]] = []
        at = first
        for gap in self._open.get(symbol, ()):  # sorted by first id, never overlapping
            if gap.last < at:
                continue
            if gap.first > last:
                break
            if gap.first > at:
                parts.append((at, gap.first - 1))
            at = gap.last + 1
            if at > last:
                return parts
        parts.append((at, last))
        return parts

    def settle(self, symbol: str) -> None:
        """Say that every page planned so far for *symbol* is in the stream."""
        for gap in self._open.get(symbol, ()):
            gap.settled = gap.next_id

    def rewind(self, symbol: str, floor: int) -> None:
        """Fetch again whatever the open gaps of *symbol* published above *floor* (every id up
        to it is stored): the stream lost those pages before the writers stored them."""
        for gap in self._open.get(symbol, ()):
            start = max(gap.first, floor + 1)
            gap.next_id = min(gap.next_id, start)
            gap.settled = min(gap.settled, start)

    def first_missing(self, symbol: str) -> int | None:
        """Return the lowest id of *symbol* not yet in the stream, or None."""
        gaps = self._open.get(symbol)
        return min(g.settled for g in gaps) if gaps else None

    def total_open(self) -> int:
        """Return the number of open gaps over all symbols."""
        return sum(len(g) for g in self._open.values())

    def next_symbol(self, skip: Container[str] = ()) -> str | None:
        """Return the symbol to repair next (not one in *skip*): oldest gap first, then the
        most ids missing."""
        best, best_key = None, (0, 0)
        for symbol, gaps in self._open.items():
            if symbol in skip:
                continue
            key = (
                min(g.detected_at for g in gaps) // SAME_TIME_US,
                -sum(g.last - g.next_id + 1 for g in gaps),
            )
            if best is None or key < best_key:
                best, best_key = symbol, key
        return best

    def backlog(self, now_us: int) -> tuple[int, float]:
        """Return the REST calls the open gaps still need and the oldest one's age (s)."""
        calls = 0
        oldest = now_us
        for gaps in self._open.values():
            calls += pages_needed(gaps)
            oldest = min(oldest, min(g.detected_at for g in gaps))
        return calls, max(0.0, (now_us - oldest) / 1e6)


def pages_needed(gaps: list[Gap]) -> int:
    """Return the historicalTrades calls that fill *gaps* (one symbol's), a page covering
    every gap it reaches."""
    pages, covered = 0, -1
    for gap in sorted(gaps, key=lambda g: g.next_id):
        start = max(gap.next_id, covered + 1)
        if start > gap.last:
            continue
        count = -(-(gap.last - start + 1) // PAGE)
        pages += count
        covered = start + count * PAGE - 1
    return pages


def plan_page(gaps: list[Gap], from_id: int, ids: list[int]) -> PagePlan:
    """Match a page of trade *ids* fetched from *from_id* against *gaps*; advance the gaps.

    Rows are ascending. A page that starts above *from_id* means REST no longer holds the ids
    before its first row; those gaps are marked partial (they end up ``unfillable``).
    """
    plan = PagePlan()
    if not gaps:
        return plan
    if not ids:
        return plan
    top = ids[-1]
    _skip_unserved(gaps, from_id, ids[0])
    gi = 0
    for index, trade_id in enumerate(ids):
        while gi < len(gaps) and gaps[gi].last < trade_id:
            gi += 1
        if gi == len(gaps):
            break
        gap = gaps[gi]
        if gap.next_id <= trade_id <= gap.last:
            if trade_id > gap.next_id:
                gap.partial = True  # REST skipped ids inside the gap
            plan.take.append(index)
            gap.next_id = trade_id + 1
    for gap in gaps:
        if gap.next_id <= top and gap.next_id <= gap.last:
            # REST skipped ids inside the page: they are not available.
            gap.partial = True
            gap.next_id = top + 1 if top < gap.last else gap.last + 1
        if gap.next_id > gap.last:
            plan.done.append(gap)
    remaining = [g.next_id for g in gaps if g.next_id <= g.last]
    plan.next_from = min(remaining) if remaining else None
    return plan


def _skip_unserved(gaps: list[Gap], from_id: int, start: int) -> None:
    """Mark ids asked for but below the page's first row as no longer served by REST."""
    for gap in gaps:
        if from_id <= gap.next_id < start:
            gap.partial = True
            gap.next_id = min(start, gap.last + 1)
