"""Fixtures of the cluster fault tests."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from tests.e2e.cluster.sharded_run import ShardedRun, StartRun, sharded_run
from tests.private_servers import PrivateRedisCluster


@pytest.fixture
def start_sharded_run(
    new_redis_cluster: PrivateRedisCluster, database_url: str, tmp_path: Path
) -> StartRun:
    """Return a starter of one :func:`sharded_run` on a cluster of the test's own, logging to
    the test's directory."""

    def start(speed: int) -> AbstractContextManager[ShardedRun]:
        return sharded_run(new_redis_cluster, database_url, tmp_path, speed=speed)

    return start
