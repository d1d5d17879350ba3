"""Redis as the compose deployments run it, for tests: the ACL users of
``deploy/redis/users.acl`` loaded by ``deploy/redis/start.sh``, on one node (docker-compose.yml)
or on a Redis Cluster of three masters and three replicas (deploy/compose.cluster.yml).

``DeployedRedis(cluster=True, shards=3)`` gives each service's URL and client as its own user
and, on a cluster, what the nodes refused (``ACL LOG``, read as ``admin``; a single Redis has
no user allowed to read it).
"""

from __future__ import annotations

from typing import Any

from tests.private_servers.process import Throwaway
from tests.private_servers.redis_acl import RedisAcl
from tests.private_servers.redis_cluster import PrivateRedisCluster
from tests.private_servers.redis_server import PrivateRedis

from tickvault.keys import RedisKeys
from tickvault.redisconn import SyncRedis, connect

# redis-py sends CLIENT SETINFO on every connection and ignores a refusal; Redis before 7.2
# has no such command, so an ACL file that names it does not load there.
IGNORED_REFUSALS = frozenset({"client|setinfo"})


class DeployedRedis(Throwaway):
    """One Redis or a Redis Cluster with the deployment's ACL, its keys under *prefix*."""

    def __init__(self, *, cluster: bool, shards: int, prefix: str = "tickvault") -> None:
        self.cluster = cluster
        self.acl = RedisAcl(prefix)
        self.keys = RedisKeys(prefix, shards, cluster=cluster)
        self.server: PrivateRedis | PrivateRedisCluster = (
            PrivateRedisCluster(acl=self.acl) if cluster else PrivateRedis(acl=self.acl)
        )

    def url_as(self, user: str) -> str:
        """Return the URL a service logged in as *user* is given (a cluster's seed node)."""
        return self.server.url_as(user)

    def client(self, user: str, **options: Any) -> SyncRedis:
        """Return the client a service logged in as *user* makes (a cluster client on a
        cluster), through ``tickvault.redisconn.connect`` as the services do."""
        return connect(self.url_as(user), cluster=self.cluster, socket_timeout=5, **options)

    def env(self, user: str) -> dict[str, str]:
        """Return the ``TICKVAULT_*`` Redis settings of a service logged in as *user*."""
        return {
            "TICKVAULT_REDIS_URL": self.url_as(user),
            "TICKVAULT_REDIS_CLUSTER": str(self.cluster).lower(),
            "TICKVAULT_STREAM_SHARDS": str(self.keys.shards),
            "TICKVAULT_REDIS_PREFIX": self.keys.prefix,
        }

    def refusals(self) -> set[tuple[str, str, str]]:
        """Return every (user, command or key, reason) a cluster node refused and logged."""
        assert isinstance(self.server, PrivateRedisCluster), "a single Redis has no admin"
        seen = set()
        for node in self.server.nodes:
            client = node.client()
            try:
                for entry in client.acl_log():
                    if entry["object"] not in IGNORED_REFUSALS:
                        seen.add((entry["username"], entry["object"], entry["reason"]))
            finally:
                client.close()
        return seen

    def setup(self) -> None:
        """Start the server(s)."""
        self.server.setup()

    def cleanup(self) -> None:
        """Stop the server(s) and delete their files."""
        self.server.cleanup()
