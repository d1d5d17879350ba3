"""Placing trade streams on connections: open ones first, a new one only when all are full."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from tickvault_collector.collector import Collector
from tickvault_collector.metrics import make_metrics
from tickvault_collector.pool import Connections
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings


def _streams(connections: Connections) -> list[list[str]]:
    return [list(r.streams) for r in connections.runners]


def test_symbols_fill_open_connections_and_a_removed_one_leaves_room() -> None:
    async def scenario() -> None:
        settings = CollectorSettings(  # type: ignore[call-arg]
            _env_file=None, collector_streams_per_connection=3
        )
        metrics = make_metrics()
        redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # never connected here
        rest = RestClient.from_settings(settings, metrics)
        collector = Collector(settings, redis, rest, metrics)
        clocks = collector.gaps.tails.clocks
        pool = Connections(settings, collector, clocks, metrics, on_ticker_replaced=lambda: None)
        pool.add(["A", "B", "C", "D", "E", "F", "G"])
        assert _streams(pool) == [
            ["a@trade", "b@trade", "c@trade"],
            ["d@trade", "e@trade", "f@trade"],
            ["g@trade"],
        ]
        assert clocks["E"] is pool.runners[1].clock
        pool.remove(["B", "C", "NOT_THERE"])
        assert "B" not in clocks
        pool.add(["H", "I", "J", "A"])  # A is subscribed already
        assert _streams(pool) == [
            ["a@trade", "h@trade", "i@trade"],
            ["d@trade", "e@trade", "f@trade"],
            ["g@trade", "j@trade"],
        ]
        assert len(pool) == 4  # three trade connections and the ticker's
        await rest.close()
        await redis.aclose()

    asyncio.run(scenario())
