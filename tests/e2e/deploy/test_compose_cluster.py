"""deploy/compose.cluster.yml in containers, brought up as ``make compose-demo`` brings up
docker-compose.yml (``COMPOSE_FILE=deploy/compose.cluster.yml``): six Redis nodes joined into a
cluster by redis-cluster-init, a PostgreSQL primary with a streaming standby, the replay
exchange, two writers. Read through the proxy: prices move, the API is ready with the standby
streaming, the stored trade ids are contiguous, and ``compose down`` leaves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.compose_stack import (
    SYMBOLS,
    Stack,
    assert_down_leaves_nothing,
    compose_marks,
    contiguous,
    started,
)

pytestmark = compose_marks()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    project = f"tickvault-cluster-e2e-{os.getpid()}"
    with started("deploy/compose.cluster.yml", project, "--scale", "writer=2") as made:
        yield made


def test_prices_move_through_the_cluster(cluster: Stack) -> None:
    cluster.wait_prices_move()
    status, ready = cluster.get("/readyz")
    assert status == 200, ready
    assert ready["redis"] and ready["postgresql"] and ready["replica"]["standby"], ready
    assert len(cluster.containers("writer")) == 2
    assert len([c for c in cluster.containers() if "redis-" in c]) == 6


def test_every_trade_is_stored_once_through_the_cluster(cluster: Stack) -> None:
    cluster.wait_stored_through(cluster.latest_ids(), "the latest trades stored")
    for symbol in SYMBOLS:
        ids = cluster.stored_ids(symbol, datetime.now(UTC) - timedelta(seconds=5))
        assert contiguous(ids), f"{symbol}: {len(ids)} ids from {ids[:1]} to {ids[-1:]}"


def test_compose_down_leaves_nothing(cluster: Stack) -> None:
    assert_down_leaves_nothing(cluster)
