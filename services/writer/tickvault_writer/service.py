"""The writer's consumer loop: read a batch, store it, move the cache, acknowledge.

Order of the steps is what makes a crash anywhere safe: PostgreSQL commits first (duplicates
are skipped there), then the monotonic cache update, then ``XACK``. An entry is only ever
acknowledged after its batch committed, so a crash between any two steps leaves it pending
and its replay changes nothing twice.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

from tickvault.codec import to_fields
from tickvault.errors import ConfigError, StoreUnavailable
from tickvault.redisconn import REDIS_ERRORS, SyncRedis, classify, connect, describe, retryable
from tickvault.retry import Backoff, RetryPolicy
from tickvault.throttle import ThrottledLog
from tickvault_writer.batch import (
    Batch,
    DeadLetter,
    decode_entries,
    latest_by_symbol,
    split,
    with_prepared,
)
from tickvault_writer.cache import LatestCache
from tickvault_writer.maintenance import Maintenance
from tickvault_writer.metrics import WriterMetrics
from tickvault_writer.settings import WriterSettings
from tickvault_writer.store import PgStore, RowsRefused, WriteResult
from tickvault_writer.stream import ShardReaders, StreamReader, consumer_name
from tickvault_writer.upkeep import Totals, Upkeep

log = logging.getLogger(__name__)
T = TypeVar("T")
LATENCY_SAMPLE = 512  # ticks per batch whose exchange-to-commit latency is observed
EMPTY = WriteResult(0, 0, 0, 0, 0, 0.0)
Stored = tuple[WriteResult, list[DeadLetter]] | None


def tune_gc() -> None:
    """Make the cyclic GC rare: a batch allocates ~25 objects per entry and frees them all.

    With the default thresholds the collector runs every 700 allocations and keeps walking
    the batch's live entries, which costs about a third of the decoding time.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def redis_client(url: str, block_ms: int, *, cluster: bool = False) -> SyncRedis:
    """Return a bytes-responses Redis (Cluster) client whose timeouts suit blocking reads."""
    return connect(
        url,
        cluster=cluster,
        socket_connect_timeout=5,
        socket_timeout=max(10.0, block_ms / 1000 + 5),
        health_check_interval=30,
    )


class Writer:
    """One writer replica."""

    def __init__(
        self,
        settings: WriterSettings,
        *,
        redis: SyncRedis | None = None,
        store: PgStore | None = None,
        cache: LatestCache | None = None,
        metrics: WriterMetrics | None = None,
        consumer: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.keys = settings.redis_keys
        self.redis = redis or redis_client(
            settings.redis_url, settings.writer_block_ms, cluster=settings.redis_cluster
        )
        self.store = store or PgStore(settings.database_url)
        self.cache = cache or LatestCache(self.redis, self.keys)
        self.metrics = metrics or WriterMetrics()
        self.reader = ShardReaders(
            self.redis,
            settings.assigned_shards(),
            consumer or settings.writer_consumer or consumer_name(),
            count=settings.writer_batch_size,
            block_ms=settings.writer_block_ms,
            claim_idle_ms=settings.writer_claim_idle_ms,
        )
        self.totals = Totals()
        self.upkeep = Upkeep(settings, self.reader, self.metrics, self.totals, clock)
        self.maintenance = Maintenance(settings, self.redis)
        self._stop = threading.Event()
        self._inflight: tuple[StreamReader, Batch, Future[Stored]] | None = None  # in the pool
        self._retry = RetryPolicy(0.05, settings.writer_retry_max_s)
        self._read_backoff = self._retry.backoff()  # between failed reads of the stream
        self._warn = ThrottledLog(log, 5.0, clock=clock)
        self._dead_log = ThrottledLog(log, 1.0, clock=clock)

    @property
    def consumer(self) -> str:
        """Return this replica's consumer name."""
        return self.reader.consumer

    def request_stop(self) -> None:
        """Stop after the batch in flight (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Return whether a stop was requested."""
        return self._stop.is_set()

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        """Consume until asked to stop; return the exit status.

        Two batches are in hand at once: while a worker thread commits one, this thread reads
        and decodes the next (psycopg2 releases the GIL while PostgreSQL works). Each batch
        is still cached and acknowledged only after its own commit, in order.
        """
        log.info("writer %s consuming %s", self.consumer, self.reader.describe())
        try:
            self.store.check()
        except ConfigError as exc:
            log.error("%s", exc)
            self.close()
            return 2
        self._retry_redis(self.reader.ensure_group, ignore_stop=False)
        self.maintenance.start()
        backoff: Backoff | None = None
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="store") as pool:
                while not (self._stop.is_set() and self._inflight is None):
                    try:
                        self._advance(pool, read=not self._stop.is_set())
                        backoff = None
                    except ConfigError as exc:  # waiting cannot cure it
                        log.error("%s", exc)
                        return 2
                    except Exception:  # a bug or an odd reply must not kill the replica
                        log.exception("batch failed; re-reading pending entries")
                        self._inflight = None
                        self.reader.reread_pending()
                        backoff = backoff or self._retry.backoff()
                        self._stop.wait(backoff.next())
        finally:
            self.close()
        log.info("writer %s stopped (%d rows inserted)", self.consumer, self.totals.inserted)
        return 0

    def _next(self, block: bool) -> tuple[StreamReader, Batch] | None:
        """Run the upkeep that is due, then read and decode the next batch of one shard (None
        when nothing came)."""
        self.upkeep.run_due()
        try:
            reader, entries = self.reader.read(block=block)
        except REDIS_ERRORS as exc:
            if not retryable(exc):
                raise
            self._warn_retry("redis", exc)
            self._stop.wait(self._read_backoff.next())
            return None
        self._read_backoff.reset()
        return (reader, with_prepared(decode_entries(entries))) if entries else None

    def close(self) -> None:
        """Stop maintenance, drop the heartbeat and close connections."""
        self.maintenance.stop()
        self.upkeep.clear_heartbeat()
        self.store.close()

    def step(self) -> int:
        """Run due upkeep, then read and process one batch; return its entry count."""
        return self._advance(None)

    def _advance(self, pool: Executor | None, *, read: bool = True) -> int:
        """Read the next batch, finish the one in flight, then store the new one.

        With a *pool* the new batch is stored there while the next call reads (and that call
        finishes it); without one it is stored, cached and acknowledged at once. Return the
        new batch's entry count (0 when nothing came).
        """
        got = self._next(self._inflight is None) if read else None
        if self._inflight is not None:
            done_reader, done, future = self._inflight
            self._inflight = None
            self._finish(done_reader, done, future.result())
        if got is None:
            return 0
        reader, batch = got
        if pool is None:
            self.process(reader, batch)
        else:
            self._inflight = (reader, batch, pool.submit(self._store_stage, batch))
        return len(batch.ids)

    # ------------------------------------------------------------------ one batch

    def process(self, reader: StreamReader, batch: Batch) -> bool:
        """Store, cache and acknowledge one batch read from *reader*'s shard; return False
        when left pending (stopping)."""
        return self._finish(reader, batch, self._store_stage(batch))

    def _store_stage(self, batch: Batch) -> Stored:
        """Commit the batch's rows (retrying while PostgreSQL is away); None when stopping."""
        if not batch.has_rows:
            return EMPTY, []
        return self._store_retrying(batch)

    def _finish(self, reader: StreamReader, batch: Batch, stored: Stored) -> bool:
        """Move the cache and acknowledge a stored batch; return False when left pending."""
        if stored is None:
            return False
        result, refused_letters = stored
        self.metrics.batch_size.observe(len(batch.ids))
        dead = list(batch.dead) + refused_letters
        ticks = batch.ticks
        if batch.has_rows:
            self._observe(batch, result)
        if refused_letters:
            refused = {d.entry_id for d in refused_letters}
            ticks = tuple(t for t, i in zip(ticks, batch.tick_ids, strict=True) if i not in refused)
        moved = self._retry_redis(lambda: self.cache.update(latest_by_symbol(ticks)))
        if moved is None or self._retry_redis(lambda: reader.finish(batch, dead)) is None:
            return False
        self.metrics.cache_updates.inc(moved)
        self._count(batch, result, dead)
        return True

    def _store_retrying(self, batch: Batch) -> Stored:
        delays = self._retry.backoff()
        while True:
            try:
                return self._store_isolating(batch)
            except StoreUnavailable as exc:
                self._warn_retry("postgresql", exc)
                if self._stop.is_set():
                    log.warning("stopping with %d entries left pending", len(batch.ids))
                    return None
                self._wait(delays.next())

    def _store_isolating(self, batch: Batch) -> tuple[WriteResult, list[DeadLetter]]:
        """Write the batch; when PostgreSQL refuses its data, bisect down to the bad rows."""
        try:
            return self.store.write(batch), []
        except RowsRefused as exc:
            halves = split(batch)
            if halves is None:
                return EMPTY, _refused_letters(batch, str(exc))
            first, first_dead = self._store_isolating(halves[0])
            second, second_dead = self._store_isolating(halves[1])
            return _add(first, second), first_dead + second_dead

    def _retry_redis(self, op: Callable[[], T], *, ignore_stop: bool = True) -> T | None:
        """Run a Redis step until it succeeds; None when a stop came while Redis was down."""
        delays = self._retry.backoff()
        while True:
            try:
                return op()
            except REDIS_ERRORS as exc:
                if not retryable(exc):
                    raise
                self._warn_retry("redis", exc)
                if self._stop.is_set() and ignore_stop:
                    return None
                self._wait(delays.next())

    def _wait(self, seconds: float) -> None:
        """Wait before a retry, keeping the heartbeat fresh (the replica is alive)."""
        self._stop.wait(seconds)
        with contextlib.suppress(*REDIS_ERRORS):
            self.upkeep.beat()

    # ------------------------------------------------------------------ bookkeeping

    def _observe(self, batch: Batch, result: WriteResult) -> None:
        self.metrics.commit_seconds.observe(result.seconds)
        ticks = batch.ticks
        if not ticks:
            return
        now_us = result.committed_us or time.time_ns() // 1000
        step = max(1, len(ticks) // LATENCY_SAMPLE)
        observe = self.metrics.latency.observe
        for tick in ticks[::step]:
            observe((now_us - tick.trade_time) / 1e6)

    def _count(self, batch: Batch, result: WriteResult, dead: list[DeadLetter]) -> None:
        m, t = self.metrics, self.totals
        m.rows_inserted.inc(result.inserted)
        m.duplicates.inc(result.duplicates)
        m.gaps.inc(result.gaps)
        for gap in batch.gaps:
            m.gaps_by_reason.labels(gap.reason.value, gap.status.value).inc()
        t.entries += len(batch.ids)
        t.inserted += result.inserted
        t.duplicates += result.duplicates
        t.gaps += result.gaps
        t.batches += 1
        if dead:
            m.dead_lettered.inc(len(dead))
            t.dead += len(dead)
            self._dead_log.warning(
                "dead-lettered entry %s: %s (%d more in its batch)",
                dead[0].entry_id.decode(),
                dead[0].reason,
                len(dead) - 1,
            )

    def _warn_retry(self, store: str, exc: BaseException) -> None:
        self.metrics.retries.labels(store).inc()
        if store == "redis":
            self.metrics.redis_faults.labels(classify(exc).value).inc()
            self._warn.warning("%s; retrying", describe(exc))
            return
        self._warn.warning("%s unavailable (%s); retrying", store, exc)


def _refused_letters(batch: Batch, reason: str) -> list[DeadLetter]:
    why = f"refused by PostgreSQL: {reason}"
    letters = [
        DeadLetter(i, to_fields(t), why) for t, i in zip(batch.ticks, batch.tick_ids, strict=True)
    ]
    letters += [
        DeadLetter(i, to_fields(g), why) for g, i in zip(batch.gaps, batch.gap_ids, strict=True)
    ]
    return letters


def _add(a: WriteResult, b: WriteResult) -> WriteResult:
    return WriteResult(
        a.inserted + b.inserted,
        a.duplicates + b.duplicates,
        a.candles + b.candles,
        a.levels + b.levels,
        a.gaps + b.gaps,
        a.seconds + b.seconds,
        max(a.committed_us, b.committed_us),
    )
