"""Rolling-window statistics from one-minute bars (pure, integer arithmetic).

A symbol's trades fold into one bar per minute that has trades (open, high, low, close, first
and last id, and running totals of count, volume and quote volume), so any window that starts
on a minute, as Binance's rolling-window tickers do (``O`` is aligned to a minute, ``C`` is
now), is a bisect and two subtractions, whatever the trade rate. Prices and quantities are
integers of 10^-8 (Binance's 8 places); quote volumes of 10^-16.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

MINUTE_MS = 60_000
DAY_MS = 86_400_000
_KEEP_MINUTES = DAY_MS // MINUTE_MS + 2


@dataclass(frozen=True, slots=True)
class Window:
    """What happened in a window: prices in 10^-8, quote volume in 10^-16."""

    open: int
    high: int
    low: int
    close: int
    prev_close: int | None
    volume: int
    quote: int
    first_id: int
    last_id: int
    count: int


class MinuteBars:
    """One symbol's one-minute bars, oldest first, at most a day and two minutes of them."""

    __slots__ = (
        "_base",
        "closes",
        "counts",
        "first_ids",
        "highs",
        "last_ids",
        "lows",
        "minutes",
        "opens",
        "quotes",
        "volumes",
    )

    def __init__(self) -> None:
        self.minutes: list[int] = []
        self.opens: list[int] = []
        self.highs: list[int] = []
        self.lows: list[int] = []
        self.closes: list[int] = []
        self.first_ids: list[int] = []
        self.last_ids: list[int] = []
        self.counts: list[int] = []  # running totals, so a window is a subtraction
        self.volumes: list[int] = []
        self.quotes: list[int] = []
        # totals and close of the last bar trimmed away
        self._base: tuple[int, int, int, int | None] = (0, 0, 0, None)

    def add(self, time_ms: int, price: int, qty: int, trade_id: int) -> bool:
        """Fold one trade in; return True when it opened a new minute."""
        minute = time_ms - time_ms % MINUTE_MS
        minutes = self.minutes
        if minutes and minutes[-1] >= minute:
            self.highs[-1] = max(self.highs[-1], price)
            self.lows[-1] = min(self.lows[-1], price)
            self.closes[-1] = price
            self.last_ids[-1] = trade_id
            self.counts[-1] += 1
            self.volumes[-1] += qty
            self.quotes[-1] += price * qty
            return False
        count, volume, quote = (
            (self.counts[-1], self.volumes[-1], self.quotes[-1]) if minutes else self._base[:3]
        )
        minutes.append(minute)
        self.opens.append(price)
        self.highs.append(price)
        self.lows.append(price)
        self.closes.append(price)
        self.first_ids.append(trade_id)
        self.last_ids.append(trade_id)
        self.counts.append(count + 1)
        self.volumes.append(volume + qty)
        self.quotes.append(quote + price * qty)
        if len(minutes) > _KEEP_MINUTES + _KEEP_MINUTES // 8:
            self._trim(minute - _KEEP_MINUTES * MINUTE_MS)
        return True

    def _trim(self, before: int) -> None:
        cut = bisect_left(self.minutes, before)
        if cut == 0:
            return
        self._base = (
            self.counts[cut - 1],
            self.volumes[cut - 1],
            self.quotes[cut - 1],
            self.closes[cut - 1],
        )
        for column in (
            self.minutes,
            self.opens,
            self.highs,
            self.lows,
            self.closes,
            self.first_ids,
            self.last_ids,
            self.counts,
            self.volumes,
            self.quotes,
        ):
            del column[:cut]

    @property
    def last_close(self) -> int | None:
        """Return the last traded price (None before the first trade)."""
        return self.closes[-1] if self.closes else self._base[3]

    def window(self, start_ms: int) -> Window | None:
        """Return the statistics of the bars from minute *start_ms* on (None: no trade)."""
        at = bisect_left(self.minutes, start_ms)
        if at == len(self.minutes):
            return None
        if at:
            before: tuple[int, int, int, int | None] = (
                self.counts[at - 1],
                self.volumes[at - 1],
                self.quotes[at - 1],
                self.closes[at - 1],
            )
        else:
            before = self._base
        return Window(
            self.opens[at],
            max(self.highs[at:]),
            min(self.lows[at:]),
            self.closes[-1],
            before[3],
            self.volumes[-1] - before[1],
            self.quotes[-1] - before[2],
            self.first_ids[at],
            self.last_ids[-1],
            self.counts[-1] - before[0],
        )
