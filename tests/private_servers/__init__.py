"""Private servers for the tests and the benchmarks: each started on loopback for one test or
run, in a temporary directory, dying with the process that started it.

The machine's shared PostgreSQL and Redis carry other people's runs, so whatever restarts a
server, kills a node, fails over or wants its own settings starts its own from here:

- :mod:`~tests.private_servers.process`: how a server is started (a child that dies with us;
  new ports on a first start whose port was taken meanwhile) and :class:`Throwaway`, the
  context manager every server is;
- :mod:`~tests.private_servers.postgres`: :class:`PrivatePostgres`, and
  :class:`ReplicatedPostgres` (a primary with a streaming standby);
- :mod:`~tests.private_servers.redis_server`: :class:`PrivateRedis`, alone or a cluster node;
- :mod:`~tests.private_servers.redis_cluster`: :class:`PrivateRedisCluster` (three masters,
  three replicas), its failovers and half-moved slots;
- :mod:`~tests.private_servers.redis_acl` and :mod:`~tests.private_servers.deployed_redis`:
  Redis as the compose deployments run it, with their ACL users (:class:`DeployedRedis`);
- :mod:`~tests.private_servers.tcp_proxy`: :class:`TcpProxy`, a fault proxy to cut and restore;
- :mod:`~tests.private_servers.replay`: the replay exchange as a process (:func:`replay_process`);
- :mod:`~tests.private_servers.services`: tickvault's services as processes (:class:`Services`).

Every name above is importable from the package itself (``from tests.private_servers import
PrivatePostgres``), which is how tests and benchmarks import them. Helpers that only check
what the tests see (recordings, assertions, polling) stay in :mod:`tests.support`.
"""

from __future__ import annotations

from tests.private_servers.deployed_redis import DeployedRedis
from tests.private_servers.postgres import PrivatePostgres, ReplicatedPostgres
from tests.private_servers.process import PortTaken, Throwaway, free_port
from tests.private_servers.redis_acl import CLUSTER_USERS, SERVICE_USERS, RedisAcl, acl_users
from tests.private_servers.redis_cluster import PrivateRedisCluster
from tests.private_servers.redis_server import PrivateRedis
from tests.private_servers.replay import ReplayProcess, replay_process
from tests.private_servers.services import (
    Services,
    recording_services,
    replayed_services,
    stack_env,
)
from tests.private_servers.tcp_proxy import TcpProxy

__all__ = [
    "CLUSTER_USERS",
    "SERVICE_USERS",
    "DeployedRedis",
    "PortTaken",
    "PrivatePostgres",
    "PrivateRedis",
    "PrivateRedisCluster",
    "RedisAcl",
    "ReplayProcess",
    "ReplicatedPostgres",
    "Services",
    "TcpProxy",
    "Throwaway",
    "acl_users",
    "free_port",
    "recording_services",
    "replay_process",
    "replayed_services",
    "stack_env",
]
