"""The publisher appends every entry to the stream, on a Redis that has just lost its scripts."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis

from tickvault.codec import from_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Source, Tick
from tickvault_collector.metrics import make_metrics
from tickvault_collector.publisher import Publisher

T0 = 1_723_161_255_342_000


def test_a_redis_without_the_script_gets_it_loaded_and_loses_no_entry(
    redis_url: str, redis_prefix: str, redis_client: redis.Redis
) -> None:
    keys = RedisKeys(redis_prefix)
    ticks = [
        Tick("BTCUSDT", i, "1.5", "2", T0 + i, T0 + i, False, T0 + i, Source.WS) for i in range(10)
    ]

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_url)
        publisher = Publisher(client, keys, make_metrics(), maxlen=10_000, batch_size=4)
        flusher = asyncio.create_task(publisher.run())
        try:
            await publisher.publish(ticks[:5])
            await client.script_flush()  # as after a restart of Redis without persistence
            await publisher.publish(ticks[5:])
        finally:
            publisher.stop()
            await flusher
            await client.aclose()

    asyncio.run(scenario())
    stored = [from_fields(fields) for _, fields in redis_client.xrange(keys.stream)]
    assert stored == ticks
