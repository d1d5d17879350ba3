"""A crash between any two steps replays safely; outages are retried; bad rows are isolated."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager

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
from tickvault.keys import WRITER_GROUP
from tickvault.tick import Tick
from tickvault_writer.batch import Batch
from tickvault_writer.cache import LatestCache
from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings
from tickvault_writer.store import PgStore, RowsRefused, WriteResult


class Crash(Exception):
    """Stands for the process dying at that point."""


class CrashingStore(PgStore):
    """Dies once, before or after committing a batch."""

    def __init__(self, url: str, when: str) -> None:
        super().__init__(url)
        self.when = when
        self.armed = False

    def write(self, batch: Batch) -> WriteResult:
        if self.armed and self.when == "before_commit":
            self.armed = False
            raise Crash(self.when)
        result = super().write(batch)
        if self.armed and self.when == "after_commit":
            self.armed = False
            raise Crash(self.when)
        return result


class CrashingCache(LatestCache):
    """Dies once, right after moving the cache (before the acknowledgement)."""

    armed = False

    def update(self, latest: Mapping[str, Tick]) -> int:
        moved = super().update(latest)
        if self.armed:
            self.armed = False
            raise Crash("after_cache")
        return moved


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
    database_url: str,
) -> None:
    ticks = recorded_ticks()["BTCUSDT"][:4000] + recorded_ticks()["ETHUSDT"][:2000]
    settings = writer_settings(writer_batch_size=1000, writer_claim_idle_ms=100)
    store = CrashingStore(database_url, when)
    first = make_writer(settings, store=store, consumer="replica-a")
    cache = CrashingCache(first.redis, first.keys)
    first.cache = cache
    feed(redis_client, first.keys, ticks)
    first.step()  # a clean batch
    store.armed = when != "after_cache"
    cache.armed = when == "after_cache"
    with pytest.raises(Crash):
        first.step()
    pending, _ = group_state(redis_client, first.keys)
    assert pending == 1000  # the crashed batch is still pending, never acknowledged

    if restart == "same_name":
        second = make_writer(settings, consumer="replica-a")
    else:
        second = make_writer(settings, consumer="replica-b")
        wait_until(lambda: second.reader.claim_abandoned() > 0, 5, "the abandoned batch's claim")
    drain(second, redis_client)

    assert_stored_exactly(clean_db, ticks)
    assert_cache_holds_last(redis_client, second, ticks)
    inserted = first.totals.inserted + second.totals.inserted
    if when != "before_commit":
        assert inserted == len(ticks) - 1000  # the crashed batch's rows were counted nowhere
        assert second.totals.duplicates == 1000  # ... and skipped on replay
    else:
        assert inserted == len(ticks)


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
        assert second.reader.deleted == 2  # XAUTOCLAIM named the 2 deleted apart
    else:
        second = make_writer(settings, consumer="replica-a")  # re-reads them as nil
    drain(second, redis_client)
    assert int(redis_client.get(lost_key) or 0) == 2  # the collector's next append takes it
    assert second.reader.deleted == 2
    assert group_state(redis_client, first.keys) == (0, 0)  # nothing left pending for ever
    stored = stored_trades(clean_db)
    assert len(stored) == 28
    assert ("BTCUSDT", ticks[2].trade_id) not in stored
