"""The compose deployments' Redis ACL in tests: every user's password, the environment
``deploy/redis/start.sh`` reads, and each user's URL.

A :class:`~tests.private_servers.redis_server.PrivateRedis` (or a whole
:class:`~tests.private_servers.redis_cluster.PrivateRedisCluster`) given a :class:`RedisAcl` starts
through ``start.sh``, as the compose ``redis`` service and cluster nodes do, so the ACL under
test is the one the deployment loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote

from tests.support.paths import REPO_ROOT

DEPLOY_REDIS = REPO_ROOT / "deploy" / "redis"
START_SH = DEPLOY_REDIS / "start.sh"
CLUSTER_INIT_SH = DEPLOY_REDIS / "cluster-init.sh"
SERVICE_USERS = ("collector", "writer", "api")
CLUSTER_USERS = ("admin", "replication")
# Passwords with the characters that break a careless URL, shell or redis.conf quoting.
PASSWORDS = MappingProxyType(
    {
        "collector": "c0ll ector/&pw",
        "writer": "wr1ter-pw",
        "api": "api:pw@x",
        "admin": 'adm1n "pw" \\ $HOME',
        "replication": "rep'l \"ica\\",
    }
)


@dataclass(frozen=True)
class RedisAcl:
    """The users of ``deploy/redis/users.acl`` and their passwords, under *prefix*."""

    prefix: str = "tickvault"
    passwords: Mapping[str, str] = field(default_factory=lambda: PASSWORDS)

    def env(self, run_dir: Path, *, cluster: bool) -> dict[str, str]:
        """Return what ``start.sh`` reads: passwords, prefix, where to write its files."""
        users = SERVICE_USERS + (CLUSTER_USERS if cluster else ())
        env = {f"REDIS_{user.upper()}_PASSWORD": self.passwords[user] for user in users}
        env.update(
            TICKVAULT_REDIS_PREFIX=self.prefix,
            REDIS_RUN_DIR=str(run_dir),
            REDIS_DATA_DIR=str(run_dir),
            REDIS_CLUSTER="yes" if cluster else "no",
        )
        return env

    @staticmethod
    def login(*, cluster: bool) -> str:
        """Return the user a test harness manages a node as (a single Redis has no admin)."""
        return "admin" if cluster else "api"

    def url(self, user: str, port: int) -> str:
        """Return ``redis://user:password@127.0.0.1:port/0``, the password URL-quoted."""
        return f"redis://{user}:{quote(self.passwords[user], safe='')}@127.0.0.1:{port}/0"


def acl_users(*, cluster: bool) -> dict[str, list[str]]:
    """Return each user's rules in ``users.acl`` as a single Redis (or, with *cluster*, a
    cluster node) loads them, placeholders unfilled."""
    users = {}
    for line in (DEPLOY_REDIS / "users.acl").read_text().splitlines():
        if cluster:
            line = line.removeprefix("@CLUSTER@")
        if line.startswith("user "):
            words = line.split()
            users[words[1]] = words[2:]
    return users
