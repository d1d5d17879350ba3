"""A crash between any two steps replays safely; outages are retried; bad rows are isolated."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any, NoReturn

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from tests.integration.writer.conftest import drain
from tests.integration.writer.writer_support import (
    candles_match,
    feed,
    group_state,
    levels_match,
    recorded_ticks,
    stored_trades,
)
from tests.private_servers import TcpProxy
from tests.support.db import terminate_backends
from tests.support.polling import wait_until

from tickvault.codec import latest_from_hash
from tickvault.keys import WRITER_GROUP, RedisKeys
from tickvault.tick import Tick
from tickvault_writer.batch import Batch
from tickvault_writer.cache import LatestCache
from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings
from tickvault_writer.store import PgStore, RowsRefused, WriteResult

CRASH_BOUND_S = 60.0  # the crashing writer must have died by then
CRASHED_BATCH = 2  # the batch during which the writer dies (the first one is clean)
CLAIM_IDLE_MS = 1500


def die() -> NoReturn:
    """Kill this process at once: no ``finally``, no acknowledgement, no goodbye."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("SIGKILL did not kill the process")


class DyingStore(PgStore):
    """Kills the process during the crashed batch, before or after committing it.

    It dies only once the next batch is also in hand (``run`` reads the next batch while
    this one is stored): both are pending then, every time.
    """

    def __init__(self, url: str, when: str, in_hand: Callable[[], bool]) -> None:
        super().__init__(url)
        self.when = when
        self.in_hand = in_hand
        self.batches = 0

    def write(self, batch: Batch) -> WriteResult:
        self.batches += 1
        crashing = self.batches == CRASHED_BATCH
        if crashing and self.when == "before_commit":
            wait_until(self.in_hand, 10, "the next batch to be read")
            die()
        result = super().write(batch)
        if crashing and self.when == "after_commit":
            wait_until(self.in_hand, 10, "the next batch to be read")
            die()
        return result


class DyingCache(LatestCache):
    """Kills the process right after moving the cache for the crashed batch (before its
    acknowledgement)."""

    def __init__(self, client: Any, keys: RedisKeys) -> None:
        super().__init__(client, keys)
        self.batches = 0

    def update(self, latest: Mapping[str, Tick]) -> int:
        moved = super().update(latest)
        self.batches += 1
        if self.batches == CRASHED_BATCH:
            die()
        return moved


def idle_ms(client: redis.Redis, keys: RedisKeys) -> int:
    """Return how long the least idle pending entry of the writers' group has been idle."""
    entries = client.xpending_range(keys.stream, WRITER_GROUP, min="-", max="+", count=10_000)
    return min(int(e["time_since_delivered"]) for e in entries)


def run_until_killed(settings: WriterSettings, when: str, consumer: str, in_flight: int) -> None:
    """Run a writer (its production ``run``) that dies during its second batch (a child)."""
    client = redis.Redis.from_url(settings.redis_url)
    keys = settings.redis_keys

    def in_hand() -> bool:
        return group_state(client, keys)[0] >= in_flight

    store = DyingStore(settings.database_url, when, in_hand)
    writer = Writer(settings, store=store, consumer=consumer)
    if when == "after_cache":
        writer.cache = DyingCache(writer.redis, writer.keys)
    writer.run()
    raise AssertionError("the writer stopped without dying")


def crash(settings: WriterSettings, when: str, consumer: str, in_flight: int) -> None:
    """Run a writer in a child process until it dies as :class:`DyingStore` says."""
    child = multiprocessing.get_context("fork").Process(
        target=run_until_killed, args=(settings, when, consumer, in_flight), daemon=True
    )
    child.start()
    child.join(CRASH_BOUND_S)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"the writer did not die within {CRASH_BOUND_S} s")
    assert child.exitcode == -signal.SIGKILL, child.exitcode


def assert_stored_exactly(engine: Engine, ticks: list[Tick]) -> None:
    stored = stored_trades(engine)
    assert len(stored) == len({(t.symbol, t.trade_id) for t in ticks})
    for t in ticks:
        assert stored[(t.symbol, t.trade_id)][:3] == (t.price, t.quantity, t.trade_time)
    candles, recomputed = candles_match(engine)
    assert candles == recomputed
    levels, relevels = levels_match(engine)
    assert levels == relevels


def assert_cache_holds_last(client: redis.Redis, writer: Writer, ticks: list[Tick]) -> None:
    for symbol in {t.symbol for t in ticks}:
        last = max((t for t in ticks if t.symbol == symbol), key=lambda t: t.trade_id)
        cached = latest_from_hash(symbol, client.hgetall(writer.keys.latest(symbol)))
        assert cached is not None and (cached.trade_id, cached.price) == (last.trade_id, last.price)


@pytest.mark.parametrize("when", ["before_commit", "after_commit", "after_cache"])
@pytest.mark.parametrize("restart", ["same_name", "claimed_by_another"])
def test_crash_between_steps_replays_to_exactly_once(
    when: str,
    restart: str,
    make_writer: Callable[..., Writer],
    writer_settings: Callable[..., WriterSettings],
    redis_client: redis.Redis,
    clean_db: Engine,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:4000] + recorded_ticks()["ETHUSDT"][:2000]
    batch = 1000
    settings = writer_settings(writer_batch_size=batch)
    keys = settings.redis_keys
    feed(redis_client, keys, ticks)
    # the first batch is stored whole; the writer dies during the second, the third in hand
    crash(settings, when, "replica-a", in_flight=2 * batch)
    pending, _ = group_state(redis_client, keys)
    assert pending == 2 * batch  # the crashed batch and the next: never acknowledged
    committed = len(stored_trades(clean_db))
    assert committed == (1 if when == "before_commit" else 2) * batch

    # replica-b claims what replica-a left once idle CLAIM_IDLE_MS: longer than a batch takes,
    # or it would also claim back the batch it has in flight itself
    later = writer_settings(writer_batch_size=batch, writer_claim_idle_ms=CLAIM_IDLE_MS)
    if restart != "same_name":  # its first chore claims them all, before it reads new ones
        wait_until(lambda: idle_ms(redis_client, keys) >= CLAIM_IDLE_MS, 10, "idle entries")
    second = make_writer(later, consumer="replica-a" if restart == "same_name" else "replica-b")
    with running(second):  # claims what replica-a left (after the idle time) or re-reads it
        wait_until(lambda: group_state(redis_client, keys) == (0, 0), 30, "the replay")

    assert_stored_exactly(clean_db, ticks)
    assert_cache_holds_last(redis_client, second, ticks)
    assert second.totals.inserted == len(ticks) - committed
    # the crashed batch's committed rows are skipped on replay, counted nowhere twice
    assert second.totals.duplicates == (0 if when == "before_commit" else batch)


class RefusingStore(PgStore):
    """Refuses any batch holding one given trade id, as PostgreSQL refuses bad data."""

    def __init__(self, url: str, bad_id: int) -> None:
        super().__init__(url)
        self.bad_id = bad_id

    def write(self, batch: Batch) -> WriteResult:
        if any(t.trade_id == self.bad_id for t in batch.ticks):
            raise RowsRefused("numeric field overflow")
        return super().write(batch)


def test_row_the_database_refuses_is_isolated_and_dead_lettered(
    make_writer: Callable[..., Writer],
    redis_client: redis.Redis,
    clean_db: Engine,
    database_url: str,
) -> None:
    ticks = recorded_ticks()["ETHUSDT"][:500]
    bad = ticks[123]
    writer = make_writer(store=RefusingStore(database_url, bad.trade_id))
    feed(redis_client, writer.keys, ticks)
    drain(writer, redis_client)
    stored = stored_trades(clean_db)
    assert len(stored) == 499 and ("ETHUSDT", bad.trade_id) not in stored
    dead = redis_client.xrange(writer.keys.dead_letter)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"t2"].split(b"|")[1] == str(bad.trade_id).encode()
    assert fields[b"reason"] == b"refused by PostgreSQL: numeric field overflow"
    assert writer.totals.dead == 1


@contextmanager
def running(writer: Writer) -> Iterator[None]:
    """Run *writer* in a thread for the block, then stop it and check that it stopped."""
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        writer.request_stop()
        thread.join(10)
    assert not thread.is_alive()


def test_terminated_database_sessions_are_retried_and_the_writer_catches_up(
    make_writer: Callable[..., Writer],
    redis_client: redis.Redis,
    clean_db: Engine,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"]
    writer = make_writer()
    with running(writer):
        for i, chunk_start in enumerate(range(0, len(ticks), 4000)):
            feed(redis_client, writer.keys, ticks[chunk_start : chunk_start + 4000])
            if i in (1, 3):
                wait_until(lambda: writer.totals.inserted > 0, 10, "some rows")
                terminate_backends(clean_db, "tickvault-writer")
        wait_until(lambda: group_state(redis_client, writer.keys) == (0, 0), 60, "the drain")
    assert_stored_exactly(clean_db, ticks)


def test_unreachable_database_keeps_entries_pending_then_catches_up(
    writer_settings: Callable[..., WriterSettings],
    make_writer: Callable[..., Writer],
    redis_client: redis.Redis,
    clean_db: Engine,
    database_url: str,
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    writer = make_writer(writer_settings(database_url=proxied, writer_retry_max_s=0.5))
    ticks = recorded_ticks()["ETHUSDT"]
    with closing(proxy), running(writer):
        feed(redis_client, writer.keys, ticks[:5000])
        wait_until(lambda: group_state(redis_client, writer.keys) == (0, 0), 30, "first drain")
        proxy.cut()
        feed(redis_client, writer.keys, ticks[5000:])
        wait_until(
            lambda: writer.metrics.retries.labels("postgresql")._value.get() >= 3,
            30,
            "retries while PostgreSQL is unreachable",
        )
        pending, _ = group_state(redis_client, writer.keys)
        assert pending > 0  # delivered, not acknowledged while the database is away
        assert len(stored_trades(clean_db)) == 5000
        proxy.restore()
        wait_until(lambda: group_state(redis_client, writer.keys) == (0, 0), 60, "catch-up")
    assert_stored_exactly(clean_db, ticks)


def test_entries_of_a_dead_consumer_are_claimed_after_the_idle_timeout(
    writer_settings: Callable[..., WriterSettings],
    make_writer: Callable[..., Writer],
    redis_client: redis.Redis,
    clean_db: Engine,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:300]
    writer = make_writer(writer_settings(writer_claim_idle_ms=200))
    feed(redis_client, writer.keys, ticks)
    # A replica that read everything and died before acknowledging.
    redis_client.xreadgroup(WRITER_GROUP, "dead-replica", {writer.keys.stream: ">"}, count=1000)
    assert group_state(redis_client, writer.keys) == (300, 0)
    wait_until(
        lambda: (writer.step(), group_state(redis_client, writer.keys))[1] == (0, 0),
        10,
        "the claim",
        interval=0.02,
    )
    assert len(stored_trades(clean_db)) == 300


class SlowStore(PgStore):
    """Commits each batch only after *delay* seconds, as a loaded PostgreSQL may."""

    def __init__(self, url: str, delay: float) -> None:
        super().__init__(url)
        self.delay = delay

    def write(self, batch: Batch) -> WriteResult:
        time.sleep(self.delay)
        return super().write(batch)


def test_a_writer_whose_commits_outlast_the_claim_idle_time_never_claims_its_own_batch(
    writer_settings: Callable[..., WriterSettings],
    make_writer: Callable[..., Writer],
    redis_client: redis.Redis,
    clean_db: Engine,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:3000]
    # each commit takes four times the claim idle time, while the next batch waits in hand
    settings = writer_settings(writer_batch_size=500, writer_claim_idle_ms=100)
    writer = make_writer(settings, store=SlowStore(settings.database_url, 0.4))
    feed(redis_client, writer.keys, ticks)
    with running(writer):
        wait_until(lambda: group_state(redis_client, writer.keys) == (0, 0), 60, "the drain")
    assert_stored_exactly(clean_db, ticks)
    assert writer.totals.inserted == len(ticks)
    assert writer.totals.duplicates == 0  # no batch read back and stored a second time


@pytest.mark.parametrize("how", ["claimed", "reread"])
def test_entries_deleted_while_pending_are_acknowledged_and_counted_as_lost(
    how: str,
    make_writer: Callable[..., Writer],
    writer_settings: Callable[..., WriterSettings],
    redis_client: redis.Redis,
    clean_db: Engine,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:30]
    settings = writer_settings(writer_batch_size=10, writer_claim_idle_ms=100)
    first = make_writer(settings, consumer="replica-a")
    feed(redis_client, first.keys, ticks)
    first.reader.ensure_group()
    _, read = first.reader.read(block=False)  # delivered, then the replica "dies": pending
    assert len(read) == 10
    redis_client.xdel(first.keys.stream, read[2][0], read[7][0])  # deleted while pending
    lost_key = first.keys.shard(0).lost
    if how == "claimed":
        second = make_writer(settings, consumer="replica-b")
        wait_until(lambda: second.reader.claim_abandoned() > 0, 5, "the abandoned entries' claim")
        assert second.reader.deleted == 2  # the claim script told the 2 deleted apart
    else:
        second = make_writer(settings, consumer="replica-a")  # re-reads them as nil
    drain(second, redis_client)
    assert int(redis_client.get(lost_key) or 0) == 2  # the collector's next append takes it
    assert second.reader.deleted == 2
    assert group_state(redis_client, first.keys) == (0, 0)  # nothing left pending for ever
    stored = stored_trades(clean_db)
    assert len(stored) == 28
    assert ("BTCUSDT", ticks[2].trade_id) not in stored
