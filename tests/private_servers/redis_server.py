"""A private ``redis-server`` (:class:`PrivateRedis`), alone or as a Redis Cluster node.

No persistence: a restart loses everything it held. Started as
:mod:`tests.private_servers.process` says: dies with us, and moves to new ports (its own and,
for a cluster node, its bus port) when one it was given was taken before it could bind it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import redis
from tests.private_servers.process import PortedServer, child_setup, free_port, wait_started
from tests.private_servers.redis_acl import START_SH, RedisAcl


class PrivateRedis(PortedServer):
    """A ``redis-server`` without persistence: a restart loses everything it held.

    With *acl* it starts through ``deploy/redis/start.sh``, as the compose deployments do:
    the users of ``deploy/redis/users.acl`` and no default user. *cluster* makes it a Redis
    Cluster node (with *acl*, also the ``admin`` and ``replication`` users, and replication
    as ``replication``), with its own cluster bus port and ``nodes.conf`` (which keeps the
    node's identity across a restart).
    """

    def __init__(
        self, *, args: tuple[str, ...] = (), acl: RedisAcl | None = None, cluster: bool = False
    ) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="tv-redis-"))
        self.args = args
        self.acl = acl
        self.cluster = cluster
        self.port = self.bus_port = 0
        self.choose_ports()

    @property
    def url(self) -> str:
        """Return ``redis://127.0.0.1:PORT/0`` (with *acl*: as the user :meth:`client` is)."""
        if self.acl is not None:
            return self.url_as(self.acl.login(cluster=self.cluster))
        return f"redis://127.0.0.1:{self.port}/0"

    def url_as(self, user: str) -> str:
        """Return the URL of this server as ACL *user*, password included."""
        assert self.acl is not None, "a server without an ACL has no users"
        return self.acl.url(user, self.port)

    def client(self) -> redis.Redis:
        """Return a plain client of this one server (not following a cluster)."""
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def choose_ports(self) -> None:
        """Draw new ports (before the first start only: see :class:`PortedServer`)."""
        self.port = free_port()
        if self.cluster:
            self.bus_port = free_port()  # not port + 10000, which may be anyone's
            (self.dir / "nodes.conf").unlink(missing_ok=True)  # a failed start's, if any

    def launch(self) -> None:
        """Start ``redis-server`` on the current ports and wait until it answers."""
        argv = [shutil.which("redis-server") or "/usr/bin/redis-server"]
        env = None
        if self.acl is not None:
            argv = ["sh", str(START_SH)]
            env = {**os.environ, **self.acl.env(self.dir, cluster=self.cluster)}
        argv += ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no"]
        if self.cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port)]
            argv += ["--cluster-config-file", str(self.dir / "nodes.conf")]
        log = self.dir / "redis.log"
        with log.open("ab") as out:
            since = out.tell()
            self.proc = subprocess.Popen(  # start.sh execs redis-server: same process
                [*argv, *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=child_setup(None, signal.SIGKILL),
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        what = f"Redis on port {self.port}"
        try:
            wait_started(lambda: _pings(client), self.proc, self.port, what, log, since)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server (its data is gone: there is no persistence)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill and start again on the same port."""
        self.kill()
        self.start()

    def cleanup(self) -> None:
        """Kill the server and delete its directory."""
        self.resume()
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def setup(self) -> None:
        """Start the server."""
        self.start()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False
