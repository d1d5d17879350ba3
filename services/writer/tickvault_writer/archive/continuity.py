"""The holes in a range of trade ids, from the ids the archive's files held (pure).

Binance numbers a symbol's trades densely, so every id between the first trade of the first
day and the last trade of the last day must be stored. :class:`Continuity` follows the ids
file after file (each file ascending) and notes every jump; :meth:`Continuity.holes` then
adds what lies between the range's bounds and the ids seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Continuity:
    """The ids seen so far of one symbol's range, as the jumps between them."""

    first: int | None = None
    last: int | None = None
    jumps: list[tuple[int, int]] = field(default_factory=list)
    out_of_order: int = 0

    def see(self, ids: list[int]) -> None:
        """Take the next ascending ids (a chunk of a file)."""
        for trade_id in ids:
            if self.last is None:
                self.first = self.last = trade_id
            elif trade_id == self.last + 1:
                self.last = trade_id
            elif trade_id > self.last:
                self.jumps.append((self.last + 1, trade_id - 1))
                self.last = trade_id
            else:
                self.out_of_order += 1  # a repeated or backward id: stored once, not a hole

    def see_span(self, first: int, last: int) -> None:
        """Take a file already imported, known by its first and last id."""
        self.see([first])
        if last > first:
            self.last = max(self.last or last, last)

    def holes(self, start: int | None, end: int | None) -> list[tuple[int, int]]:
        """Return the missing id ranges of ``start..end`` (None: the files' own bound)."""
        if self.first is None or self.last is None:
            if start is None or end is None or end < start:
                return []
            return [(start, end)]
        out: list[tuple[int, int]] = []
        if start is not None and start < self.first:
            out.append((start, self.first - 1))
        low = self.first if start is None else start
        high = self.last if end is None else end
        out += [(a, min(b, high)) for a, b in self.jumps if a >= low and a <= high]
        if end is not None and end > self.last:
            out.append((self.last + 1, end))
        return out
