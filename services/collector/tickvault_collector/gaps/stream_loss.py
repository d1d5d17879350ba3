"""Redis losing what the collector appended: refill every id published since the last mark
the writers are known to have stored.

Each append's report (:class:`~tickvault_collector.append.Appended`) goes to
:meth:`StreamLoss.appended`. A shard's :class:`~tickvault_collector.gaps.ledger.Ledger`
confirms resume marks as every group acknowledges them. When the report says the shard lost
entries (Redis restarted empty, a replica promoted before it had them, entries deleted while
pending), every symbol of that shard is refilled from its last confirmed mark: the open gaps
are rewound (their backfilled pages may be gone) and their records sent again, the gaps
PostgreSQL holds open are reread (their closing records may be among the lost), and the ids
published since the mark open as ``stream_lost`` (or ``claim_deleted``) gaps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tickvault.codec import GapReason
from tickvault.keys import ShardKeys
from tickvault_collector.append import Appended
from tickvault_collector.gaps.ledger import Ledger
from tickvault_collector.gaps.live import LiveGaps
from tickvault_collector.gaps.stored import StoredGap

log = logging.getLogger(__name__)

ReadStored = Callable[[list[str]], Awaitable[list[StoredGap] | None]]


class StreamLoss:
    """The per-shard ledgers of confirmed marks, and the refill after a loss."""

    def __init__(
        self,
        live: LiveGaps,
        *,
        shard_of: Callable[[str], ShardKeys],
        read_stored: ReadStored,
    ) -> None:
        """Refill *live*'s symbols (*shard_of* says where each is appended);
        *read_stored* reads the gaps PostgreSQL holds open."""
        self._live = live
        self._shard_of = shard_of
        self._read_stored = read_stored
        self.ledgers: dict[int, Ledger] = {}  # per stream shard: marks every group acked
        self._tasks: set[asyncio.Task[None]] = set()

    def resumed(self, symbol: str, mark: int) -> None:
        """Take the resume *mark* of *symbol* as stored until a snapshot says more."""
        self._ledger(self._shard_of(symbol).index).start(symbol, mark)

    def appended(self, shard: ShardKeys, reply: Appended) -> None:
        """Act on one append's report: confirm marks every group acknowledged, and when the
        shard lost entries, open gaps for every id published since the last confirmed mark."""
        ledger = self._ledger(shard.index)
        if reply.damaged:
            self._lost(shard, ledger, reply)
        else:
            ledger.acknowledged(reply.safe)
        if reply.last_id:
            ledger.appended(reply.last_id, self._live.marks.last)

    def _ledger(self, index: int) -> Ledger:
        ledger = self.ledgers.get(index)
        if ledger is None:
            ledger = self.ledgers[index] = Ledger()
        return ledger

    def _lost(self, shard: ShardKeys, ledger: Ledger, reply: Appended) -> None:
        live, book, marks = self._live, self._live.book, self._live.marks
        reason = GapReason.STREAM_LOST if reply.gone else GapReason.CLAIM_DELETED
        self._live.counts.stream_losses += 1
        known = {*marks.high, *book.symbols()}
        symbols = sorted(s for s in known if self._shard_of(s).index == shard.index)
        ranges = []
        for symbol in symbols:
            high = marks.high.get(symbol, -1)
            floor = ledger.confirmed(symbol)
            if floor is None:
                first = live.sequencer.first(symbol)
                floor = high if first is None else first - 1
            book.rewind(symbol, floor)  # backfilled pages above it may be gone too
            for gap in book.gaps(symbol):  # and the records that opened the gaps
                live.resend(gap)
            if high > floor:
                ranges.append((symbol, floor + 1, high))
                # Until the task below has opened the gaps, the mark stays below the lost ids.
                marks.hold(symbol, floor + 1)
        log.warning(
            "Redis lost entries of %s (%s): %d symbols refilled from their last stored id",
            shard.stream,
            "appended entries gone" if reply.gone else f"{reply.lost_entries} deleted pending",
            len(ranges),
        )
        ledger.lost()
        live.opened.set()  # rewound gaps want their pages again
        task = asyncio.get_running_loop().create_task(self._refill(symbols, ranges, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refill(
        self, symbols: list[str], ranges: list[tuple[str, int, int]], reason: GapReason
    ) -> None:
        """Reopen what PostgreSQL holds open (its closing records may be among the lost),
        then open the ranges published since the last confirmed marks."""
        try:
            stored = await self._read_stored(symbols)
            if stored:
                self._live.reopen(stored)
            for symbol, first, last in ranges:
                self._live.open(symbol, first, last, reason)
        finally:
            for symbol, _, _ in ranges:  # the open gaps hold the marks from now on
                self._live.marks.release(symbol)
