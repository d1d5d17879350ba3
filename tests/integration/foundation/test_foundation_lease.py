"""The one lease every service uses (tickvault.lease), on a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from tickvault.errors import LeaseLost
from tickvault.lease import AsyncLease, Lease


@pytest.fixture
def key(redis_prefix: str) -> str:
    return f"{redis_prefix}:lease:test"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_only_one_holder_at_a_time_and_only_the_holder_releases(
    client: redis.Redis, key: str
) -> None:
    first, second = Lease(client, key, 30), Lease(client, key, 30)
    assert first.acquire() is True
    assert second.acquire() is False
    assert second.release() is False  # a non-holder cannot free it
    assert second.renew() is False
    assert second.hold(100) is False  # nor stretch it
    assert 0 < client.pttl(key) <= 30_000
    assert first.release() is True
    assert client.exists(key) == 0
    assert second.acquire() is True


def test_an_expired_holder_cannot_release_or_extend_the_next_holders_lease(
    client: redis.Redis, key: str
) -> None:
    first, second = Lease(client, key, 0.2), Lease(client, key, 30)
    assert first.acquire()
    time.sleep(0.3)  # first's lease runs out while it believes it holds it
    assert second.acquire()
    assert first.release() is False
    assert first.renew() is False
    assert first.hold(60) is False
    assert client.exists(key) == 1
    assert 20_000 < client.pttl(key) <= 30_000  # untouched: still second's
    assert second.release() is True


def test_a_renewed_lease_outlives_its_first_time_to_live(client: redis.Redis, key: str) -> None:
    lease = Lease(client, key, 0.6)
    assert lease.acquire()
    for _ in range(4):  # 0.9 s in all, past the 0.6 s it was taken for
        time.sleep(0.225)
        assert lease.renew() is True
    assert Lease(client, key, 1).acquire() is False
    assert lease.hold(0.05) is True  # keep it only a moment more
    time.sleep(0.15)
    assert Lease(client, key, 1).acquire() is True


def test_async_run_renews_the_lease_while_long_work_runs(redis_url: str, key: str) -> None:
    async def scenario() -> tuple[str, bool, int]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            lease, other = AsyncLease(client, key, 0.3), AsyncLease(client, key, 0.3)
            assert await lease.acquire()

            async def long_audit() -> str:
                await asyncio.sleep(1.0)  # more than three times the time to live
                return "done"

            result = await lease.run(long_audit())
            taken = await other.acquire()
            ttl = int(await client.pttl(key))
            return result, taken, ttl
        finally:
            await client.aclose()

    result, taken, ttl = asyncio.run(scenario())
    assert result == "done"
    assert taken is False  # still ours after the work: renewed all along
    assert 0 < ttl <= 300


def test_two_auditors_racing_for_the_lease_only_one_runs(redis_url: str, key: str) -> None:
    ran: list[str] = []

    async def auditor(name: str, client: aioredis.Redis) -> bool:
        lease = AsyncLease(client, key, 5)
        if not await lease.acquire():
            return False

        async def audit() -> None:
            ran.append(name)
            await asyncio.sleep(0.2)

        try:
            await lease.run(audit())
        finally:
            await lease.release()
        return True

    async def scenario() -> list[bool]:
        clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
        try:
            return list(await asyncio.gather(*(auditor(f"a{i}", c) for i, c in enumerate(clients))))
        finally:
            for c in clients:
                await c.aclose()

    outcomes = asyncio.run(scenario())
    assert sorted(outcomes) == [False, True]
    assert len(ran) == 1


def test_work_stops_when_its_lease_is_taken_over(
    client: redis.Redis, redis_url: str, key: str
) -> None:
    finished: list[bool] = []

    async def scenario() -> None:
        aclient = aioredis.Redis.from_url(redis_url)
        try:
            lease = AsyncLease(aclient, key, 0.3)
            assert await lease.acquire()

            async def audit() -> None:
                await asyncio.sleep(0.02)
                client.set(key, b"someone-else", px=5000)  # as if ours had expired meanwhile
                await asyncio.sleep(2.0)
                finished.append(True)

            await lease.run(audit())
        finally:
            await aclient.aclose()

    with pytest.raises(LeaseLost):
        asyncio.run(scenario())
    assert finished == []  # cancelled at the first renewal, long before it would end
    assert client.get(key) == b"someone-else"
