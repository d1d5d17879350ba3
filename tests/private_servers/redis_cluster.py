"""A private Redis Cluster: three masters and three replicas on free loopback ports.

Six ``redis-server --cluster-enabled yes`` (no persistence) joined by the deployment's
``deploy/redis/cluster-init.sh`` (``redis-cli --cluster create ... --cluster-replicas 1``).
Given a :class:`~tests.private_servers.redis_acl.RedisAcl`, the nodes start through
``deploy/redis/start.sh`` with the deployment's ACL users, replicate as ``replication`` and
are managed as ``admin``, as in ``deploy/compose.cluster.yml``. A short ``cluster-node-timeout``
makes a failover take a couple of seconds, and ``cluster-replica-validity-factor 0`` lets a
replica take over however long it was cut off from its master, which is what
:meth:`PrivateRedisCluster.fail_over_losing_writes` relies on to lose the writes a master
acknowledged but never replicated.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.crc import key_slot
from tests.private_servers.process import Throwaway
from tests.private_servers.redis_acl import CLUSTER_INIT_SH, RedisAcl
from tests.private_servers.redis_server import PrivateRedis
from tests.support.polling import wait_until

NODE_TIMEOUT_MS = 2000
READY_TIMEOUT_S = 60.0
PAUSE_MS = 10_000  # longest write pause on a master: it is dead far sooner


@dataclass(frozen=True)
class Failover:
    """What :meth:`PrivateRedisCluster.fail_over_losing_writes` did."""

    serving_s: float  # from the kill until the cluster serves every slot again
    lost_entries: int  # entries of the streams asked about that the dead master alone held


@dataclass(frozen=True)
class NodeRole:
    """What one node is in the cluster right now."""

    node: PrivateRedis
    node_id: str
    master: bool
    master_id: str | None  # a replica's master
    slots: tuple[tuple[int, int], ...]


class PrivateRedisCluster(Throwaway):
    """Six Redis nodes (three masters, three replicas) formed into one cluster."""

    def __init__(
        self,
        *,
        masters: int = 3,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        acl: RedisAcl | None = None,
    ) -> None:
        args = (
            "--cluster-node-timeout",
            str(node_timeout_ms),
            "--cluster-replica-validity-factor",
            "0",
            "--repl-diskless-sync-delay",  # a replica's first sync starts at once, not in 5 s
            "0",
        )
        self.nodes = [PrivateRedis(args=args, acl=acl, cluster=True) for _ in range(masters * 2)]
        self.masters_wanted = masters
        self.acl = acl

    @property
    def url(self) -> str:
        """Return the seed URL of the cluster (its first node; with an ACL, as ``admin``)."""
        return self.nodes[0].url

    def url_as(self, user: str) -> str:
        """Return the seed URL of the cluster as ACL *user*, password included."""
        return self.nodes[0].url_as(user)

    def start(self) -> None:
        """Start every node, create the cluster with ``deploy/redis/cluster-init.sh`` (as the
        ACL's ``admin``, if any) and wait until it serves every slot."""
        for node in self.nodes:
            node.start()
        env = dict(os.environ)
        if self.acl is not None:
            env.update(REDISCLI_USER="admin", REDISCLI_AUTH=self.acl.passwords["admin"])
        subprocess.run(
            ["sh", str(CLUSTER_INIT_SH), *(f"127.0.0.1:{n.port}" for n in self.nodes)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=READY_TIMEOUT_S,
        )
        self.wait_healthy()

    def roles(self) -> list[NodeRole]:
        """Return every live node's role, as the nodes themselves see it."""
        out = []
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                continue
            client = node.client()
            try:
                myself = next(
                    line for line in _nodes(client) if "myself" in line.split()[2].split(",")
                )
            except redis.RedisError:
                continue
            finally:
                client.close()
            fields = myself.split()
            out.append(
                NodeRole(
                    node,
                    fields[0],
                    "master" in fields[2],
                    None if fields[3] == "-" else fields[3],
                    tuple(_ranges(fields[8:])),
                )
            )
        return out

    def master_of(self, key: str) -> PrivateRedis:
        """Return the node that serves *key*'s slot now."""
        slot = key_slot(key.encode())
        for role in self.roles():
            if role.master and any(lo <= slot <= hi for lo, hi in role.slots):
                return role.node
        raise LookupError(f"no master serves slot {slot}")

    def replica_of(self, master: PrivateRedis) -> PrivateRedis:
        """Return a replica of *master*."""
        roles = self.roles()
        master_id = next(r.node_id for r in roles if r.node is master)
        return next(r.node for r in roles if r.master_id == master_id)

    def wait_healthy(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until every live node says ``cluster_state:ok`` and every master has a
        replica in sync."""
        wait_until(self._healthy, timeout, "the Redis Cluster to become healthy", 0.1)

    def _healthy(self) -> bool:
        roles = self.roles()
        masters = [r for r in roles if r.master and r.slots]
        if len(masters) != self.masters_wanted:
            return False
        return self._all_ok(roles, replicas=True)

    def fail_over_losing_writes(
        self, master: PrivateRedis, unreplicated_s: float, streams: Sequence[str] = ()
    ) -> Failover:
        """Make *master* lose what it acknowledges for *unreplicated_s*, then fail over.

        Its replica is frozen (SIGSTOP) and its replication link cut (``CLIENT KILL TYPE
        replica``: a frozen process still has the kernel buffer what the master sends, and
        would apply it once thawed), so that nothing written meanwhile reaches it; then the
        master is SIGKILLed (its writes paused for that instant, ``CLIENT PAUSE WRITE``, so
        that what it held can be read) and the replica thawed, and the cluster promotes it.
        Return the seconds from the kill until the cluster serves every slot again, and how
        many entries of *streams* (those *master* serves) the master held that the replica
        does not.
        """
        replica = self.replica_of(master)
        served = [s for s in streams if self.master_of(s) is master]
        with _node_client(master) as on_master, _node_client(replica) as on_replica:
            replica.pause()
            try:
                on_master.execute_command("CLIENT", "KILL", "TYPE", "replica")
                time.sleep(unreplicated_s)
                on_master.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
                acknowledged = _entries_added(on_master, served)
                master.kill()
                killed = time.monotonic()
            finally:
                replica.resume()
            kept = _entries_kept(on_replica, served)
        self._wait_serving(replica)
        return Failover(time.monotonic() - killed, acknowledged - kept)

    def move_slot(self, slot: int, target: PrivateRedis) -> SlotMove:
        """Start moving *slot* to the master *target*, as a reshard does, and return the move.

        The target is set IMPORTING and the owner MIGRATING: until :meth:`SlotMove.finish`,
        clients meet the slot half moved (``ASK`` for a key already on the target,
        ``TRYAGAIN`` for a command whose keys are split between the two).
        """
        roles = self.roles()
        source = next(r for r in roles if r.master and any(lo <= slot <= hi for lo, hi in r.slots))
        dest = next(r for r in roles if r.node is target)
        if not dest.master or dest is source:
            raise ValueError(f"node {target.port} is not another master")
        _command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        _command(source.node, "CLUSTER", "SETSLOT", slot, "MIGRATING", dest.node_id)
        masters = [r.node for r in roles if r.master]
        return SlotMove(self, slot, source.node, target, dest.node_id, masters)

    def _wait_serving(self, node: PrivateRedis, timeout: float = READY_TIMEOUT_S) -> None:
        def serving() -> bool:
            roles = self.roles()
            role = next((r for r in roles if r.node is node), None)
            return role is not None and role.master and bool(role.slots) and self._all_ok(roles)

        wait_until(serving, timeout, f"node {node.port} to take over")

    @staticmethod
    def _all_ok(roles: list[NodeRole], *, replicas: bool = False) -> bool:
        """Return whether every node says ``cluster_state:ok`` (and, with *replicas*, every
        master has a replica in sync)."""
        for role in roles:
            client = role.node.client()
            try:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
                if replicas and role.master and role.slots and not _synced(client):
                    return False
            except redis.RedisError:
                return False
            finally:
                client.close()
        return True

    def heal(self) -> None:
        """Restart every dead node (it rejoins as a replica) and wait until healthy."""
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                node.start()
        self.wait_healthy()

    def cleanup(self) -> None:
        """Kill every node and delete their directories."""
        for node in self.nodes:
            node.cleanup()

    def setup(self) -> None:
        """Start the cluster."""
        self.start()


@dataclass
class SlotMove:
    """A slot on its way from one master to another (:meth:`PrivateRedisCluster.move_slot`)."""

    cluster: PrivateRedisCluster
    slot: int
    source: PrivateRedis
    target: PrivateRedis
    target_id: str
    masters: list[PrivateRedis]
    moved: int = 0

    def keys(self) -> list[bytes]:
        """Return the keys of the slot the source still holds."""
        return list(_command(self.source, "CLUSTER", "GETKEYSINSLOT", self.slot, 1000))

    def migrate(self, key: str | bytes) -> None:
        """MIGRATE *key* to the target (nothing when the source no longer holds it)."""
        port = self.target.port
        reply = _command(self.source, "MIGRATE", "127.0.0.1", port, "", 0, 5000, "KEYS", key)
        if reply != b"NOKEY":
            self.moved += 1

    def finish(self) -> int:
        """Migrate what is left, give the slot to the target on every master (``MOVED``
        from then on), wait until the cluster is healthy; return how many keys moved."""
        while keys := self.keys():
            for key in keys:
                self.migrate(key)
        for node in sorted(
            self.masters, key=lambda n: (n is not self.target, n is not self.source)
        ):
            _command(node, "CLUSTER", "SETSLOT", self.slot, "NODE", self.target_id)
        self.cluster.wait_healthy()
        return self.moved


def _command(node: PrivateRedis, *args: object) -> Any:
    """Send one command to *node* alone and return its reply."""
    client = node.client()
    try:
        return client.execute_command(*args)
    finally:
        client.close()


@contextlib.contextmanager
def _node_client(node: PrivateRedis) -> Iterator[redis.Redis]:
    """Yield a client of *node* alone, on one connection (``READONLY`` holds per connection)."""
    client = redis.Redis(
        host="127.0.0.1", port=node.port, socket_timeout=5, single_connection_client=True
    )
    try:
        yield client
    finally:
        client.close()


def _entries_kept(replica: redis.Redis, streams: Sequence[str]) -> int:
    """Return how many entries *streams* hold on a thawed replica once it has read what its
    dead master's link delivered (the link is down then)."""
    replica.execute_command("READONLY")  # a replica answers reads of its own slots
    wait_until(
        lambda: replica.info("replication").get("master_link_status"),
        READY_TIMEOUT_S,
        "the replica to see its dead master's link down",
        0.01,
        until=lambda status: status == "down",
    )
    return _entries_added(replica, streams)


def _entries_added(client: redis.Redis, streams: Sequence[str]) -> int:
    """Return how many entries *streams* were ever given on this node (0 for a missing one)."""
    total = 0
    for stream in streams:
        if client.exists(stream):
            total += int(client.xinfo_stream(stream)["entries-added"])
    return total


def _synced(master: redis.Redis) -> bool:
    info = master.info("replication")
    return any(
        k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
        for k, v in info.items()
    )


def _nodes(client: redis.Redis) -> list[str]:
    raw = client.execute_command("CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return [line for line in text.splitlines() if line.strip()]


def _ranges(items: list[str]) -> list[tuple[int, int]]:
    out = []
    for item in items:
        if item.startswith("["):  # a slot being migrated
            continue
        lo, _, hi = item.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out
