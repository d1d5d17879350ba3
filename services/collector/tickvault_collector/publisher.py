"""Append ticks and gap records to the Redis Stream in small batches, one round trip per shard.

Entries wait in a bounded in-memory FIFO (``TICKVAULT_COLLECTOR_BUFFER_MAX``). A flusher takes
up to ``batch_size`` of them every few milliseconds and hands them to the
:class:`~tickvault_collector.appender.ShardAppender`, which splits them by stream shard
(:meth:`tickvault.keys.RedisKeys.shard_of`: a symbol always goes to the same shard) and sends
each shard's part, with the per-symbol resume marks it moves (``ShardKeys.last_id``), as one
scripted call (:data:`tickvault_collector.append.APPEND`) — keys of one shard share a Redis Cluster
slot, so the script is atomic on a cluster too. The script trims only what every consumer
group acknowledged, and refuses the batch while the shard's unacknowledged backlog is at
``TICKVAULT_STREAM_MAXLEN``. The shards' calls go out concurrently; entries leave the FIFO
only once every shard's Redis has taken them (a batch retried because one shard refused it
may append another shard's entries twice, which the writers' idempotent inserts absorb).
Each answer also says whether Redis lost entries this publisher appended to that shard, or a
writer found entries deleted; the owner's ``appended`` callback acts on it.

Readers call :meth:`Publisher.congested` / :meth:`Publisher.drained` to slow down (TCP
backpressure) while Redis is merely slower than the socket. While Redis is unreachable or
a stream is full the FIFO keeps filling; when it is full, :meth:`Publisher.offer` refuses
ticks and the caller turns the refused ids into gaps (``buffer_overflow``). Gap records and
awaited batches (backfill) are never refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice

from tickvault.codec import GapRecord
from tickvault.keys import RedisKeys, ShardKeys
from tickvault.redisconn import REDIS_ERRORS, AsyncRedis, classify, describe
from tickvault.retry import RetryPolicy
from tickvault.tick import Tick
from tickvault_collector.append import StreamFull
from tickvault_collector.appender import AppendedFn, Entry, ShardAppender, no_watch
from tickvault_collector.metrics import Metrics
from tickvault_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

REDIS_RETRY = RetryPolicy(0.1, 5.0)
FULL_RETRY = RetryPolicy(0.02, 0.5)  # a full stream is asked again soon: writers ack quickly
IDLE_PROBE_S = 1.0  # with nothing to append for this long, probe the shards
MarksFn = Callable[[dict[str, int]], dict[str, int]]


def no_marks(highs: dict[str, int]) -> dict[str, int]:
    """Move no resume mark (the auditor's entries never say where the live feed stands)."""
    return {}


class Publisher:
    """The bounded FIFO in front of the Redis Stream, and its flusher."""

    def __init__(
        self,
        redis: AsyncRedis,
        keys: RedisKeys,
        metrics: Metrics,
        *,
        maxlen: int,
        batch_size: int = 1000,
        flush_ms: float = 5.0,
        capacity: int = 500_000,
        marks: MarksFn | None = None,
        producer: str = "collector",
        appended: AppendedFn = no_watch,
    ) -> None:
        self._appender = ShardAppender(
            redis, keys, maxlen=maxlen, producer=producer, appended=appended
        )
        self._unwritten: dict[str, int] = {}  # marks of a batch Redis did not take
        self.full = False  # the last attempt found a shard's backlog at its bound
        self.backlog = 0  # entries not yet trimmable in the fullest shard, as last seen
        self._metrics = metrics
        self._batch = batch_size
        self._flush_s = flush_ms / 1000
        self.capacity = capacity
        self._marks = marks or (lambda highs: highs)
        self._fifo: deque[Entry] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._high_water = max(4 * batch_size, 4096)
        self._below = asyncio.Event()
        self._stopping = False
        self.published = 0
        self.healthy = True

    @classmethod
    def from_settings(
        cls,
        settings: CollectorSettings,
        redis: AsyncRedis,
        metrics: Metrics,
        *,
        marks: MarksFn = no_marks,
        producer: str | None = None,
        appended: AppendedFn = no_watch,
    ) -> Publisher:
        """Return a publisher onto the stream of *settings*, sized and paced by them.

        *producer* names its producer key (default: the collector instance); two publishers
        of one process need two names.
        """
        return cls(
            redis,
            settings.redis_keys,
            metrics,
            maxlen=settings.stream_maxlen,
            batch_size=settings.collector_batch_size,
            flush_ms=settings.collector_flush_ms,
            capacity=settings.collector_buffer_max,
            marks=marks,
            producer=producer or settings.collector_instance,
            appended=appended,
        )

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

    def congested(self) -> bool:
        """Return whether readers should wait: the FIFO is long while Redis is taking it."""
        return len(self._fifo) > self._high_water and self.healthy and not self.full

    async def drained(self) -> None:
        """Wait until the FIFO is back under the high-water mark (or Redis stops answering)."""
        while self.congested():
            self._below.clear()
            await self._below.wait()

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
        backoff = REDIS_RETRY.backoff()
        full_backoff = FULL_RETRY.backoff()
        while True:
            if not self._fifo:
                if self._stopping:
                    return
                self._wake.clear()
                try:
                    async with asyncio.timeout(IDLE_PROBE_S):
                        await self._wake.wait()
                except TimeoutError:
                    await self._appender.probe()
                continue
            if len(self._fifo) < self._batch and not self._stopping:
                await asyncio.sleep(self._flush_s)
            try:
                await self._flush_once()
            except StreamFull as exc:
                if not self.full:
                    log.warning(
                        "%s (TICKVAULT_STREAM_MAXLEN); buffering %d entries until the writers "
                        "acknowledge",
                        exc,
                        len(self),
                    )
                self.full = True
                self._below.set()  # readers keep reading; overflow turns into gaps
                await asyncio.sleep(full_backoff.next())
                continue
            except REDIS_ERRORS as exc:
                self._metrics.redis_faults.labels(classify(exc).value).inc()
                if self.healthy:
                    log.warning("%s; buffering %d entries", describe(exc), len(self))
                self.healthy = False
                self._below.set()  # readers must keep reading; overflow turns into gaps
                await asyncio.sleep(backoff.next())
                continue
            if not self.healthy:
                log.info("Redis takes appends again; %d entries still buffered", len(self))
            if self.full:
                log.info("stream has room again; %d entries still buffered", len(self))
            self.healthy = True
            self.full = False
            backoff.reset()
            full_backoff.reset()

    def stop(self) -> None:
        """Ask the flusher to publish what is queued and return."""
        self._stopping = True
        self._wake.set()

    def shard(self, symbol: str) -> ShardKeys:
        """Return the stream shard *symbol*'s entries and resume mark go to."""
        return self._appender.shard(symbol)

    async def _flush_once(self) -> None:
        count = min(len(self._fifo), self._batch)
        batch = self._appender.encode(islice(self._fifo, count))
        marks = self._unwritten
        marks.update(self._marks(batch.highs))
        replies, failure = await self._appender.append(batch.parts, marks)
        self.backlog = max((r.backlog for r in replies), default=0)
        if failure is not None:
            raise failure
        for reply in replies:
            if reply.full:
                raise StreamFull(reply.backlog)
        self._unwritten = {}
        for _ in range(count):
            self._fifo.popleft()
        self.published += count - len(batch.waiters)
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        if len(self._fifo) < self.capacity:
            self._room.set()
        if len(self._fifo) <= self._high_water:
            self._below.set()
        if batch.newest_ws:
            self._metrics.lag.observe(max(0.0, time.time() - batch.newest_ws / 1e6))
