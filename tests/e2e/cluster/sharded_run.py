"""One live run on a private Redis Cluster for the fault tests: the replay exchange serving both
recordings, a collector and two writers on a tick stream of :data:`SHARDS` shards, each
service exposing its metrics on a port of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from tests.integration.writer.writer_support import trade_count
from tests.private_servers import PrivateRedisCluster, Services, free_port, replayed_services
from tests.support.metrics import scrape
from tests.support.polling import wait_until
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.keys import RedisKeys

SHARDS = 3
WRITERS = ("writer-1", "writer-2")

StartRun = Callable[[int], AbstractContextManager["ShardedRun"]]
"""Starts a :func:`sharded_run` on the test's own cluster at the given speed."""


@dataclass
class ShardedRun:
    """The cluster, the running services, their key names, their metrics ports and the
    recorded trades the replay serves (by symbol)."""

    cluster: PrivateRedisCluster
    services: Services
    keys: RedisKeys
    ports: dict[str, int]
    recorded: dict[str, list[RecordedTrade]]

    @property
    def expected(self) -> int:
        """How many trades the replay serves in all."""
        return sum(len(ts) for ts in self.recorded.values())

    def wait_a_fifth_stored(self, db: Engine) -> None:
        """Wait until a fifth of the recorded trades is stored (the run is well under way)."""
        wait_until(lambda: trade_count(db) > self.expected // 5, 90, "a fifth stored")

    def wait_every_trade_stored(self, db: Engine) -> None:
        """Wait until as many trades are stored as the replay serves."""
        wait_until(lambda: trade_count(db) >= self.expected, 120, "every trade", interval=0.2)

    def stop(self) -> str:
        """Stop every service, check each exited cleanly; return the collector's log."""
        codes = self.services.terminate()
        assert codes == dict.fromkeys((*WRITERS, "collector"), 0), codes
        return self.services.log("collector")

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
        keys = RedisKeys(prefix, SHARDS, cluster=True)
        yield ShardedRun(cluster, services, keys, ports, all_recorded_trades())
