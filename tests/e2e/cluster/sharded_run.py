"""One live run on a private Redis Cluster for the fault tests: the replay exchange serving both
recordings, a collector and two writers on a tick stream of :data:`SHARDS` shards, each
service exposing its metrics on a port of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.private_servers import PrivateRedisCluster, Services, free_port, replayed_services
from tests.support.metrics import scrape

from tickvault.keys import RedisKeys

SHARDS = 3
WRITERS = ("writer-1", "writer-2")


@dataclass
class ShardedRun:
    """The running services, their key names and their metrics ports."""

    services: Services
    keys: RedisKeys
    ports: dict[str, int]

    def metrics(self, name: str) -> dict[str, float]:
        """Return the metrics service *name* exposes now."""
        return scrape(self.ports[name])

    def faults(self, name: str) -> dict[str, float]:
        """Return the Redis faults service *name* retried so far, by kind."""
        return {
            labels.partition('fault="')[2].rstrip('"}'): value
            for sample, value in self.metrics(name).items()
            for metric, _, labels in [sample.partition("{")]
            if metric.endswith("_redis_faults_total")
        }


@contextmanager
def sharded_run(
    cluster: PrivateRedisCluster, database_url: str, logs: Path, *, speed: int
) -> Iterator[ShardedRun]:
    """Start the replay at *speed*, two writers and a collector on *cluster*; yield the run
    (every service is killed at the end whatever happened)."""
    prefix = f"tvtest:{uuid.uuid4().hex[:12]}"
    ports = {name: free_port() for name in (*WRITERS, "collector")}
    with replayed_services(
        logs,
        database_url,
        cluster.url,
        prefix,
        speed=speed,
        REDIS_CLUSTER="true",
        STREAM_SHARDS=str(SHARDS),
    ) as services:
        for i, name in enumerate(WRITERS, 1):
            services.start(
                name,
                "tickvault_writer",
                TICKVAULT_WRITER_CONSUMER=f"w{i}",
                TICKVAULT_WRITER_METRICS_PORT=str(ports[name]),
            )
        services.start(
            "collector",
            "tickvault_collector",
            TICKVAULT_COLLECTOR_METRICS_PORT=str(ports["collector"]),
        )
        yield ShardedRun(services, RedisKeys(prefix, SHARDS, cluster=True), ports)
