"""A spot trades file's CSV lines as ticks (pure).

Binance's spot trade files have seven columns, ``id, price, qty, quoteQty, time,
isBuyerMaker, isBestMatch``, booleans written ``True``/``False``, no header (some files of
other markets have one, so a first line that is not a trade is taken for a header), and times
in milliseconds before 2025-01-01, microseconds from then on. The unit is read from the first
row of each file and every row must agree with it. A row that breaks the rules of a live trade
(the :class:`~tickvault.tick.Tick` constructor) is refused and counted; its id is then a hole
that the import repairs from REST like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tickvault.errors import InvalidTick
from tickvault.tick import MS_BELOW, Source, Tick

_BOOLS = {"True": True, "False": False, "true": True, "false": False}


@dataclass(slots=True)
class FileReader:
    """The running state of reading one file: its unit, and what it refused."""

    symbol: str
    received_at: int
    micros: bool | None = None  # None until the first row says
    header: bool = False
    refused: int = 0
    first_refusal: str = ""
    lines: int = 0
    _problems: list[str] = field(default_factory=list)

    def ticks(self, lines: Iterable[str]) -> Iterator[Tick]:
        """Yield the trades of *lines*, refusing (and counting) the rows that are not."""
        for line in lines:
            self.lines += 1
            text = line.strip()
            if not text:
                continue
            if self.lines == 1 and not text[:1].isdigit():
                self.header = True
                continue
            try:
                yield self._tick(text)
            except (ValueError, InvalidTick) as exc:
                self.refused += 1
                if not self.first_refusal:
                    self.first_refusal = f"line {self.lines}: {exc}"

    def _tick(self, text: str) -> Tick:
        parts = text.split(",")
        if len(parts) != 7:
            raise ValueError(f"{len(parts)} columns, not 7")
        trade_id, price, qty, _, time_text, maker, _ = parts
        time = int(time_text)
        micros = time >= MS_BELOW
        if self.micros is None:
            self.micros = micros
        elif micros != self.micros:
            raise ValueError(f"time {time} is not in the file's unit")
        time_us = time if micros else time * 1000
        buyer_maker = _BOOLS.get(maker)
        if buyer_maker is None:
            raise ValueError(f"isBuyerMaker {maker!r} is not True or False")
        return Tick(
            self.symbol,
            int(trade_id),
            price,
            qty,
            time_us,
            time_us,
            buyer_maker,
            self.received_at,
            Source.ARCHIVE,
        )
