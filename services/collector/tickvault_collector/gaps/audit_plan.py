"""What the gap auditor must refill, worked out from what PostgreSQL holds (pure).

Inputs are the holes a scan of ``trades`` found between stored ids, the span of ids stored,
the gap records still open in ``trade_gaps`` and, optionally, the exchange's latest trade id.
Output: the id ranges to fetch from REST, merged and sorted, and which open records become
``filled`` once those ranges are refilled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tickvault_collector.gaps.stored import StoredGap

IdRange = tuple[int, int]  # first, last (inclusive)


@dataclass(frozen=True, slots=True)
class SymbolPlan:
    """The auditor's work for one symbol."""

    holes: list[IdRange]  # found in PostgreSQL, each becomes a ``found_by=auditor`` record
    fetch: list[IdRange]  # everything to refill: holes plus open records' missing parts


def merge(ranges: list[IdRange]) -> list[IdRange]:
    """Return *ranges* sorted, with overlapping or adjacent ones joined."""
    out: list[IdRange] = []
    for first, last in sorted(ranges):
        if first > last:
            continue
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def holes_between(pairs: list[tuple[int, int]]) -> list[IdRange]:
    """Turn ``(id, next stored id)`` pairs from the scan into the missing ranges between."""
    return merge([(a + 1, b - 1) for a, b in pairs if b > a + 1])


def stitch(spans: list[IdRange]) -> list[IdRange]:
    """Return the holes between consecutive per-partition ``(min id, max id)`` spans."""
    holes: list[IdRange] = []
    reached: int | None = None  # the highest id stored in the spans seen so far
    for first, last in sorted(spans):
        if reached is not None and first > reached + 1:
            holes.append((reached + 1, first - 1))
        reached = last if reached is None else max(reached, last)
    return holes


def plan_symbol(
    holes: list[IdRange],
    span: IdRange | None,
    records: list[StoredGap],
    latest: int | None,
    *,
    extend: bool = True,
) -> SymbolPlan:
    """Return what to refill for one symbol.

    *span* is the lowest and highest id stored (None: nothing stored). With *extend*, the
    parts of open records outside the span are missing too (nothing is stored there), and
    ids after the span up to the exchange's *latest* are a hole at the tail.
    """
    found = list(holes)
    fetch = list(holes)
    if span is None:
        fetch += [(r.first_id, r.last_id) for r in records] if extend else []
        return SymbolPlan(merge(found), merge(fetch))
    low, high = span
    if extend and latest is not None and latest > high:
        found.append((high + 1, latest))
        fetch.append((high + 1, latest))
    if extend:
        for r in records:
            if r.first_id < low:
                fetch.append((r.first_id, min(r.last_id, low - 1)))
            if r.last_id > high:
                fetch.append((max(r.first_id, high + 1), r.last_id))
    return SymbolPlan(merge(found), merge(fetch))


def record_outcome(
    record: StoredGap, span: IdRange | None, fetched: list[IdRange], unfillable: list[IdRange]
) -> bool | None:
    """Return True when *record*'s ids are all stored or refilled, False when some cannot be,
    None when the record lies outside what this pass looked at."""
    covered = merge(([span] if span else []) + fetched)
    if not _inside(record.first_id, record.last_id, covered):
        return None
    return not any(a <= record.last_id and record.first_id <= b for a, b in unfillable)


def _inside(first: int, last: int, ranges: list[IdRange]) -> bool:
    return any(a <= first and last <= b for a, b in ranges)
