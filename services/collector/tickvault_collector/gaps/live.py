"""The live capture's gaps: where each symbol stands, which ranges are open, the resume marks.

Gaps open here for every reason the live feed has (:class:`~tickvault.codec.GapReason`): a
jump in ids (:meth:`LiveGaps.jumped`: ``ws_gap``, or ``reconnect`` right after a resume
point), a tail the tickers show (:mod:`~tickvault_collector.gaps.ticker_check`), a run of
ticks the full buffer refused (:meth:`LiveGaps.dropped`, ``buffer_overflow``), ids a stream
loss took (:mod:`~tickvault_collector.gaps.stream_loss`). Opening publishes each new range's
``detected`` record and wakes the repair (:attr:`LiveGaps.opened`); ids beyond
``BACKFILL_MAX_TRADES`` are recorded ``unfillable`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Container

from tickvault.codec import GapReason, GapRecord, GapStatus
from tickvault.rest.book import Gap, GapBook
from tickvault_collector.gaps.marks import ResumeMarks
from tickvault_collector.gaps.sequencer import Sequencer, cap_gap
from tickvault_collector.gaps.stored import StoredGap
from tickvault_collector.gaps.tails import Tails
from tickvault_collector.metrics import Counts

log = logging.getLogger(__name__)

TAIL_PATIENCE_S = 60.0  # a symbol behind the ticker this long is a gap, however busy the feed


class LiveGaps:
    """Every symbol's position, open gaps and resume mark; the gaps they open."""

    def __init__(
        self,
        tracked: Container[str],
        counts: Counts,
        put_record: Callable[[GapRecord], None],
        *,
        backfill_cap: int,
        tail_grace_s: float,
    ) -> None:
        """Keep the gaps of the *tracked* symbols (the capture's own set, read only), of at
        most *backfill_cap* ids each, publishing their records with *put_record* (never
        refused); every part counts in *counts*."""
        self.tracked = tracked
        self.counts = counts
        self._cap = backfill_cap
        self._put = put_record
        self.sequencer = Sequencer()
        self.book = GapBook()
        self.tails = Tails(self.sequencer, grace_s=tail_grace_s, patience_s=TAIL_PATIENCE_S)
        # symbol -> [first, last] of the run of ticks the full buffer refused (never rebound:
        # the marks read it)
        self.overflow: dict[str, list[int]] = {}
        self.marks = ResumeMarks(self.book, self.overflow)
        self.reasons: dict[GapReason, int] = dict.fromkeys(GapReason, 0)
        self.opened = asyncio.Event()  # set when gaps open or reopen: the repair's wake-up

    def resume(self, symbol: str, mark: int) -> bool:
        """Start *symbol* after its resume *mark* unless it has a position; return whether
        it did."""
        if not self.sequencer.start(symbol, mark, resumed=True):
            return False
        self.marks.start(symbol, mark)
        return True

    def jumped(self, symbol: str, trade_id: int) -> None:
        """Open the ids the sequencer's last GAP verdict (on *trade_id*) skipped."""
        seq = self.sequencer
        reason = GapReason.RECONNECT if seq.gap_resumed else GapReason.WS_GAP
        self.open(symbol, seq.gap_first, trade_id - 1, reason)

    def open(self, symbol: str, first: int, last: int, reason: GapReason) -> None:
        """Record ids ``first..last`` of *symbol* as missing for *reason* and have them
        backfilled (the parts not already open)."""
        now = time.time_ns() // 1000
        too_old, wanted = cap_gap(first, last, self._cap)
        if too_old is not None:
            log.warning(
                "%s: ids %d..%d are beyond the backfill cap; recorded unfillable", symbol, *too_old
            )
            self._put(
                GapRecord(
                    symbol, too_old[0], too_old[1], GapStatus.UNFILLABLE, now, now, reason=reason
                )
            )
            self.counts.gaps_unfillable += 1
            self.reasons[reason] += 1
        if wanted[0] > wanted[1]:
            return
        for a, b in self.book.uncovered(symbol, *wanted):
            gap = self.book.open(symbol, a, b, now, reason)
            self._put(gap.record(GapStatus.DETECTED))
            self.counts.gaps_detected += 1
            self.reasons[reason] += 1
        self.opened.set()

    def resend(self, gap: Gap) -> None:
        """Publish the record that opened *gap* again (the stream may have lost it)."""
        self._put(gap.record(GapStatus.DETECTED))

    def reopen(self, gaps: list[StoredGap]) -> None:
        """Take gaps PostgreSQL holds open into the book, as they were recorded (their
        ``filled`` record then closes the same row); those of untracked symbols stay."""
        opened = 0
        for gap in gaps:
            symbol, first, last = gap.symbol, gap.first_id, gap.last_id
            if symbol not in self.tracked or self.book.uncovered(symbol, first, last) != [
                (first, last)
            ]:
                continue
            self.book.open(symbol, first, last, gap.detected_at, gap.reason)
            self.marks.touch(symbol)
            opened += 1
        if opened:
            log.info("%d gaps PostgreSQL holds open go to backfill", opened)
            self.opened.set()

    def dropped(self, symbol: str, trade_id: int) -> None:
        """Remember a tick the full buffer refused, as part of a run to backfill later."""
        self.counts.overflow += 1
        run = self.overflow.get(symbol)
        if run is not None and run[1] + 1 == trade_id:
            run[1] = trade_id
            return
        if run is not None:
            self.open(symbol, run[0], run[1], GapReason.BUFFER_OVERFLOW)
        self.overflow[symbol] = [trade_id, trade_id]

    def taken(self, symbol: str) -> None:
        """Open *symbol*'s dropped run: the buffer took its next tick."""
        first, last = self.overflow.pop(symbol)
        self.open(symbol, first, last, GapReason.BUFFER_OVERFLOW)

    def close_overflow(self) -> None:
        """Open every dropped run (the buffer has room again; a symbol's next accepted tick
        does so too, a symbol that went quiet needs this)."""
        runs = list(self.overflow.items())
        self.overflow.clear()
        for symbol, (first, last) in runs:
            self.open(symbol, first, last, GapReason.BUFFER_OVERFLOW)
