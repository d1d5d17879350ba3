"""Append ticks and gap records to the Redis Stream in small pipelined batches.

Entries wait in a bounded in-memory FIFO. A flusher takes up to ``batch_size`` of them every
few milliseconds, sends one pipeline of ``XADD … MAXLEN ~ n`` commands plus the per-symbol
resume marks (``collector_last_id``), and removes them from the FIFO only once Redis has
answered. While Redis is unreachable the FIFO keeps filling; when it is full,
:meth:`Publisher.offer` refuses ticks and the caller turns the refused ids into gaps.
Gap records and awaited batches (backfill) are never refused.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tickvault.codec import GapRecord, to_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Source, Tick
from tickvault_collector.metrics import Metrics

log = logging.getLogger(__name__)

Entry = Tick | GapRecord | asyncio.Future[None]
MarksFn = Callable[[dict[str, int]], dict[str, int]]


class Publisher:
    """The bounded FIFO in front of the Redis Stream, and its flusher."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        metrics: Metrics,
        *,
        maxlen: int,
        batch_size: int = 1000,
        flush_ms: float = 5.0,
        capacity: int = 500_000,
        marks: MarksFn | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._stream = keys.stream
        self._metrics = metrics
        self._maxlen = maxlen
        self._batch = batch_size
        self._flush_s = flush_ms / 1000
        self.capacity = capacity
        self._marks = marks or (lambda highs: highs)
        self._fifo: deque[Entry] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._stopping = False
        self.published = 0
        self.healthy = True

    def __len__(self) -> int:
        return len(self._fifo)

    def offer(self, tick: Tick) -> bool:
        """Queue a live tick; return False (and drop it) when the FIFO is full."""
        fifo = self._fifo
        if len(fifo) >= self.capacity:
            self._room.clear()
            return False
        fifo.append(tick)
        if not self._wake.is_set():
            self._wake.set()
        return True

    def put_record(self, record: GapRecord) -> None:
        """Queue a gap record; never refused."""
        self._fifo.append(record)
        self._wake.set()

    async def publish(self, entries: Iterable[Tick | GapRecord]) -> None:
        """Queue *entries* once there is room and wait until Redis holds them all."""
        while len(self._fifo) >= self.capacity:
            self._room.clear()
            await self._room.wait()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fifo.extend(entries)
        self._fifo.append(done)
        self._wake.set()
        await done

    async def run(self) -> None:
        """Flush until :meth:`stop` is called and the FIFO is empty."""
        delay = 0.1
        while True:
            if not self._fifo:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._fifo) < self._batch and not self._stopping:
                await asyncio.sleep(self._flush_s)
            try:
                await self._flush_once()
            except (RedisError, OSError) as exc:
                if self.healthy:
                    log.warning("Redis unreachable (%s); buffering %d entries", exc, len(self))
                self.healthy = False
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 5.0)
                continue
            if not self.healthy:
                log.info("Redis reachable again; %d entries still buffered", len(self))
            self.healthy, delay = True, 0.1

    def stop(self) -> None:
        """Ask the flusher to publish what is queued and return."""
        self._stopping = True
        self._wake.set()

    async def _flush_once(self) -> None:
        fifo = self._fifo
        count = min(len(fifo), self._batch)
        pipe = self._redis.pipeline(transaction=False)
        xadd = pipe.xadd
        stream, maxlen = self._stream, self._maxlen
        highs: dict[str, int] = {}
        waiters: list[asyncio.Future[None]] = []
        newest_ws = 0
        for i in range(count):
            entry = fifo[i]
            if isinstance(entry, Tick):
                xadd(stream, to_fields(entry), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
                if entry.trade_id > highs.get(entry.symbol, -1):
                    highs[entry.symbol] = entry.trade_id
                if entry.source is Source.WS:
                    newest_ws = entry.trade_time
            elif isinstance(entry, GapRecord):
                xadd(stream, to_fields(entry), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            else:
                waiters.append(entry)
        for symbol, mark in self._marks(highs).items():
            pipe.set(self._keys.collector_last_id(symbol), mark)
        await pipe.execute()
        for _ in range(count):
            fifo.popleft()
        self.published += count - len(waiters)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if len(fifo) < self.capacity:
            self._room.set()
        self._metrics.buffer.set(len(fifo))
        if newest_ws:
            self._metrics.lag.observe(max(0.0, time.time() - newest_ws / 1e6))
