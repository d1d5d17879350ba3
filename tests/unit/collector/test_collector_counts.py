"""Hot-path counts reach Prometheus once a second, each in the counter of its name."""

from __future__ import annotations

import asyncio
from dataclasses import fields

import redis.asyncio as aioredis

from tickvault_collector.collector import Collector
from tickvault_collector.metrics import Counts, make_metrics
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings


def test_every_count_moves_its_own_counter_by_the_delta_since_the_last_sync() -> None:
    async def scenario() -> None:
        settings = CollectorSettings(_env_file=None)  # type: ignore[call-arg]
        metrics = make_metrics()
        redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # never connected here
        collector = Collector(settings, redis, RestClient.from_settings(settings, metrics), metrics)
        names = [f.name for f in fields(Counts)]
        for i, name in enumerate(names, start=1):
            setattr(collector.counts, name, i)
        collector.sync_metrics()
        for name in names:
            setattr(collector.counts, name, getattr(collector.counts, name) + 10)
        collector.sync_metrics()
        collector.sync_metrics()  # nothing new: nothing added twice
        for i, name in enumerate(names, start=1):
            samples = getattr(metrics, name).collect()[0].samples
            assert [s.value for s in samples if s.name.endswith("_total")] == [i + 10], name
        await redis.aclose()

    asyncio.run(scenario())
