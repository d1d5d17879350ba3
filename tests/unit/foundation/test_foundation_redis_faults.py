"""What a Redis failure means: a cluster that is down or moving slots is never "unreachable"."""

from __future__ import annotations

import pytest
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    MasterDownError,
    MovedError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)

from tickvault.redisconn import RedisFault, classify, describe, mode_problem

# Exceptions as redis-py raises them for the servers' replies (the tests on a real cluster,
# tests/integration/cluster, provoke the same ones for real).
CASES = [
    (ConnectionError("Error 111 connecting to 127.0.0.1:7000. Connection refused."), "unreachable"),
    (TimeoutError("Timeout reading from socket"), "unreachable"),
    (OSError("Network is unreachable"), "unreachable"),
    (ClusterDownError("The cluster is down"), "cluster down"),
    (MasterDownError("Link with MASTER is down"), "cluster down"),
    (SlotNotCoveredError("Slot 1234 not covered by the cluster."), "cluster down"),
    (MovedError("3999 127.0.0.1:6381"), "resharding"),
    (AskError("3999 127.0.0.1:6381"), "resharding"),
    (TryAgainError("Multiple keys request during rehashing of slot"), "resharding"),
    (ClusterError("TTL exhausted."), "resharding"),
    (ClusterCrossSlotError("Keys in request don't hash to the same slot"), "cross-slot"),
    (RedisClusterException("MSET - all keys must map to the same key slot"), "cross-slot"),
    (RedisClusterException("Cluster mode is not enabled on this node"), "wrong mode"),
    (ReadOnlyError("You can't write against a read only replica."), "read-only"),
    (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "out of memory"),
    (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), "error"),
]


@pytest.mark.parametrize(("exc", "kind"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_every_failure_is_reported_as_what_it_is(exc: BaseException, kind: str) -> None:
    fault = classify(exc)
    assert fault.value == kind
    line = describe(exc)
    assert ("unreachable" in line) == (fault is RedisFault.UNREACHABLE), line
    assert "\n" not in line


def test_the_issue_message_names_the_cross_slot_problem() -> None:
    line = describe(ClusterCrossSlotError("Keys in request don't hash to the same slot"))
    assert line == (
        "Redis cross-slot: keys of one command are in different Redis Cluster slots "
        "(Keys in request don't hash to the same slot)"
    )


def test_only_configuration_faults_are_not_worth_a_retry() -> None:
    assert {f for f in RedisFault if not f.transient} == {
        RedisFault.CROSS_SLOT,
        RedisFault.WRONG_MODE,
    }


def test_a_password_in_an_error_is_masked() -> None:
    line = describe(ConnectionError("cannot reach redis://:hunter2@cache:6379/0"))
    assert "hunter2" not in line and "redis://:***@cache" in line


@pytest.mark.parametrize(
    ("enabled", "cluster", "problem"),
    [
        ("1", False, "is a Redis Cluster node: set TICKVAULT_REDIS_CLUSTER=true"),
        ("0", True, "TICKVAULT_REDIS_CLUSTER=true, but Redis at TICKVAULT_REDIS_URL is not"),
        ("1", True, None),
        ("0", False, None),
    ],
)
def test_the_configured_mode_must_match_the_server(
    enabled: str, cluster: bool, problem: str | None
) -> None:
    found = mode_problem({"cluster_enabled": enabled}, cluster)
    assert (found is None) == (problem is None)
    if problem is not None:
        assert found is not None and problem in found
