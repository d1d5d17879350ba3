"""Open gaps per symbol and how a page of REST trades closes them (pure).

A gap is a fixed id range from the moment its ``detected`` record is published until it is
``filled`` or ``unfillable`` (the writer keys ``trade_gaps`` on the range). One
``historicalTrades`` page may cover several gaps: :func:`plan_page` picks the rows that fall
inside open gaps and says which gaps that completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickvault.codec import GapRecord, GapStatus


@dataclass(slots=True)
class Gap:
    """One open range of missing trade ids of a symbol."""

    symbol: str
    first: int
    last: int
    detected_at: int
    next_id: int = -1  # the lowest id still wanted
    partial: bool = False  # REST no longer had some of it

    def __post_init__(self) -> None:
        if self.next_id < 0:
            self.next_id = self.first

    def record(self, status: GapStatus, now: int | None = None) -> GapRecord:
        """Return the gap record of this range with *status*."""
        filled = now if status is not GapStatus.DETECTED else None
        return GapRecord(self.symbol, self.first, self.last, status, self.detected_at, filled)


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

    def open(self, symbol: str, first: int, last: int, now: int) -> Gap:
        """Register the missing range ``first..last`` and return it."""
        gap = Gap(symbol, first, last, now)
        gaps = self._open.setdefault(symbol, [])
        gaps.append(gap)
        gaps.sort(key=lambda g: g.first)
        return gap

    def close(self, gap: Gap) -> None:
        """Forget a gap that was filled or given up."""
        gaps = self._open.get(gap.symbol, [])
        if gap in gaps:
            gaps.remove(gap)

    def gaps(self, symbol: str) -> list[Gap]:
        """Return the open gaps of *symbol*, lowest ids first."""
        return list(self._open.get(symbol, ()))

    def symbols(self) -> list[str]:
        """Return the symbols with at least one open gap."""
        return [s for s, gaps in self._open.items() if gaps]

    def first_missing(self, symbol: str) -> int | None:
        """Return the lowest id still missing for *symbol*, or None."""
        gaps = self._open.get(symbol)
        return min(g.next_id for g in gaps) if gaps else None

    def total_open(self) -> int:
        """Return the number of open gaps over all symbols."""
        return sum(len(g) for g in self._open.values())


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
