"""Redis clients for every service, and what a Redis failure means.

:func:`connect` and :func:`connect_async` are the one door: with ``TICKVAULT_REDIS_CLUSTER``
they return redis-py's cluster clients (:class:`redis.cluster.RedisCluster`,
:class:`redis.asyncio.cluster.RedisCluster`) seeded with ``TICKVAULT_REDIS_URL``; otherwise
the plain clients, with the same options either way. The cluster clients follow ``MOVED`` and
``ASK`` redirections and a failover by themselves, and split multi-key commands across slots.

:func:`classify` sorts a failure into a :class:`RedisFault`, so that a cluster that is down or
resharding, or keys that span slots, are reported as what they are — never as "unreachable".
Catch :data:`REDIS_ERRORS`: redis-py's cluster errors do not all derive from ``RedisError``.
"""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)

from tickvault.errors import ConfigError
from tickvault.logs import mask_secrets

SyncRedis: TypeAlias = redis.Redis | RedisCluster
AsyncRedis: TypeAlias = aioredis.Redis | AsyncRedisCluster
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)

_NOT_CLUSTER = "Cluster mode is not enabled"
_SAME_SLOT = "same key slot"  # redis-py's own check before sending a multi-key command
_BLOCKED = "blocked when running redis in cluster mode"  # a command redis-py cannot route


def connect(url: str, *, cluster: bool = False, **options: Any) -> SyncRedis:
    """Return a synchronous client of the Redis (or the Redis Cluster seeded by) *url*."""
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, *, cluster: bool = False, **options: Any) -> AsyncRedis:
    """Return an asyncio client of the Redis (or the Redis Cluster seeded by) *url*."""
    if cluster:
        return AsyncRedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


class RedisFault(enum.Enum):
    """What kind of Redis failure an exception is."""

    UNREACHABLE = "unreachable"  # no connection, or no answer in time
    CLUSTER_DOWN = "cluster down"  # CLUSTERDOWN / MASTERDOWN, or a slot no node serves
    RESHARDING = "resharding"  # MOVED / ASK / TRYAGAIN that did not settle
    CROSS_SLOT = "cross-slot"  # keys of one command in different slots: a tickvault bug
    WRONG_MODE = "wrong mode"  # a cluster client on a plain Redis, or the other way round
    READ_ONLY = "read-only"  # a replica answered a write
    OUT_OF_MEMORY = "out of memory"  # maxmemory reached with a no-eviction policy
    OTHER = "error"

    @property
    def transient(self) -> bool:
        """Return whether waiting and retrying can cure it (no configuration change)."""
        return self not in (RedisFault.CROSS_SLOT, RedisFault.WRONG_MODE)


def retryable(exc: BaseException) -> bool:
    """Return whether the step that raised *exc* should be retried with backoff: Redis (or a
    cluster node) is away, the cluster is failing over or moving slots, or memory is full.
    A cross-slot or wrong-mode error, or any other error reply, is not cured by waiting."""
    fault = classify(exc)
    return fault.transient and fault is not RedisFault.OTHER


def classify(exc: BaseException) -> RedisFault:
    """Return what kind of Redis failure *exc* is."""
    if isinstance(exc, ClusterDownError | SlotNotCoveredError):
        return RedisFault.CLUSTER_DOWN
    if isinstance(exc, ClusterCrossSlotError) or (
        isinstance(exc, RedisClusterException) and _SAME_SLOT in str(exc)
    ):
        return RedisFault.CROSS_SLOT
    if isinstance(exc, RedisClusterException) and _NOT_CLUSTER in str(exc):
        return RedisFault.WRONG_MODE
    if isinstance(exc, AskError | TryAgainError | ClusterError):  # MovedError is an AskError
        return RedisFault.RESHARDING
    if isinstance(exc, ReadOnlyError):
        return RedisFault.READ_ONLY
    if isinstance(exc, OutOfMemoryError):
        return RedisFault.OUT_OF_MEMORY
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return RedisFault.UNREACHABLE
    if isinstance(exc, RedisClusterException) and _BLOCKED in str(exc):
        return RedisFault.OTHER  # a tickvault bug: waiting cannot cure it
    if isinstance(exc, RedisClusterException):
        return RedisFault.CLUSTER_DOWN  # e.g. no node of the cluster could be reached
    return RedisFault.OTHER


_HINTS = {
    RedisFault.CLUSTER_DOWN: "the Redis Cluster cannot serve every slot (a master down and "
    "no replica promoted yet?)",
    RedisFault.RESHARDING: "the Redis Cluster is moving slots (MOVED/ASK/TRYAGAIN)",
    RedisFault.CROSS_SLOT: "keys of one command are in different Redis Cluster slots",
    RedisFault.WRONG_MODE: "TICKVAULT_REDIS_CLUSTER does not match the server",
    RedisFault.READ_ONLY: "a Redis replica answered a write",
    RedisFault.OUT_OF_MEMORY: "Redis reached maxmemory",
}


def describe(exc: BaseException) -> str:
    """Return one line saying what went wrong, e.g. ``Redis unreachable (Connection refused)``."""
    fault = classify(exc)
    detail = mask_secrets(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    detail = detail or type(exc).__name__
    if fault is RedisFault.UNREACHABLE:
        return f"Redis unreachable ({detail})"
    if fault is RedisFault.OTHER:
        return f"Redis error ({detail})"
    return f"Redis {fault.value}: {_HINTS[fault]} ({detail})"


def mode_problem(info: dict[str, Any], cluster: bool) -> str | None:
    """Return what is wrong with ``INFO cluster``'s answer for a client in *cluster* mode."""
    enabled = str(info.get("cluster_enabled", "0")) == "1"
    if enabled and not cluster:
        return (
            "Redis at TICKVAULT_REDIS_URL is a Redis Cluster node: set TICKVAULT_REDIS_CLUSTER=true"
        )
    if cluster and not enabled:
        return "TICKVAULT_REDIS_CLUSTER=true, but Redis at TICKVAULT_REDIS_URL is not a cluster"
    return None


def check_mode(client: SyncRedis, cluster: bool) -> None:
    """Raise ConfigError when the server's cluster mode is not the one configured."""
    if isinstance(client, RedisCluster):
        return  # it bootstrapped from the cluster's slot table, or raised WRONG_MODE then
    problem = mode_problem(client.info("cluster"), cluster)
    if problem:
        raise ConfigError(problem)


async def check_mode_async(client: AsyncRedis, cluster: bool) -> None:
    """Raise ConfigError when the server's cluster mode is not the one configured."""
    if isinstance(client, AsyncRedisCluster):
        try:
            await client.initialize()  # the asyncio client bootstraps on first use
        except RedisClusterException as exc:
            if classify(exc) is RedisFault.WRONG_MODE:
                raise ConfigError(str(mode_problem({}, True))) from exc
            raise
        return
    problem = mode_problem(await client.info("cluster"), cluster)
    if problem:
        raise ConfigError(problem)
