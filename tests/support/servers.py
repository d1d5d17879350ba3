"""Private, throw-away servers: PostgreSQL (alone or with a streaming standby), Redis, and a
Redis Cluster, for tests, ``make bench`` and ``make chaos``.

The machine's shared servers carry other people's test runs, so whatever restarts a server,
kills a node or wants its own settings starts its own: ``initdb`` + ``postgres`` in a
temporary directory, ``pg_basebackup -R`` for a standby, and ``redis-server`` without any
persistence (``--cluster-enabled yes`` and ``deploy/redis/cluster-init.sh`` for a cluster;
``deploy/redis/start.sh`` when a test wants the deployment's ACL users).
Every server listens on a free loopback port and vanishes with its directory at exit. Each
server is a child process that the kernel kills when the process that started it dies
(``PR_SET_PDEATHSIG``), so even a killed test run leaves nothing running. As root,
PostgreSQL runs as the ``postgres`` user (``initdb`` refuses root).
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import psycopg2
import redis
from tests.support.redis_acl import START_SH, RedisAcl

PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 60.0
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def free_port() -> int:
    """Return a TCP port that was free on loopback a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: install the PostgreSQL server package")
    return path


def _child_setup(user: str | None, deathsig: int) -> Callable[[], None]:
    """Return a ``preexec_fn``: become *user*, then die with *deathsig* when our parent dies."""
    ids = None
    if user is not None:
        entry = pwd.getpwnam(user)
        ids = (entry.pw_uid, entry.pw_gid)
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        os.setsid()  # signals sent to the test's process group (Ctrl-C) stay ours to relay
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        libc.prctl(PR_SET_PDEATHSIG, deathsig)  # after setuid, which clears it
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)

    return setup


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not start (see {log}):\n{tail}")
        time.sleep(0.05)


class Throwaway:
    """A server (or group of servers) used as a context manager: set up, always cleaned up."""

    def setup(self) -> None:
        """Bring the server up."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Stop the server and delete its files."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.setup()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class PrivatePostgres(Throwaway):
    """A PostgreSQL server of our own: ``start()``, ``stop()``, ``restart()``, ``url(db)``."""

    def __init__(self, *, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tv-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "max_connections": "200",
            "track_commit_timestamp": "on",
            **(settings or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            shutil.chown(self.dir, self._user, self._user)

    def _run(self, *argv: str) -> None:
        subprocess.run(
            ["runuser", "-u", self._user, "--", *argv] if self._user else list(argv),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> PrivatePostgres:
        """Create the cluster (trust authentication, superuser ``postgres``)."""
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        argv = [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port)]
        argv += ["-k", str(self.dir)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(self._user, signal.SIGQUIT),
            )
        _wait(self._answers, self.proc, f"PostgreSQL on port {self.port}", self.log)

    def _answers(self) -> bool:
        try:
            psycopg2.connect(self.dsn(), connect_timeout=1).close()
        except psycopg2.OperationalError:
            return False
        return True

    def dsn(self, database: str = "postgres") -> str:
        """Return the libpq DSN of *database* on this server."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash: no checkpoint, WAL replay on start)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(STOP_SIGNALS[mode])
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, mode: str = "immediate") -> None:
        """Stop (as a crash by default) and start again on the same port."""
        self.stop(mode)
        self.start()

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of *database* on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement in autocommit and return its rows (none for a command)."""
        conn = psycopg2.connect(self.dsn(database), connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def standby(self) -> PrivatePostgres:
        """Return a streaming standby of this server (``pg_basebackup -R``), started."""
        replica = PrivatePostgres(settings=self.settings)
        try:
            replica._run(
                _pg_bin("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-D",
                str(replica.data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            )
            replica.start()
        except BaseException:
            replica.cleanup()
            raise
        return replica

    def promote(self) -> None:
        """Promote this standby to a primary and wait until it accepts writes."""
        self.query("SELECT pg_promote(true, 60)")

    def in_recovery(self) -> bool:
        """Return whether this server is a standby."""
        return bool(self.query("SELECT pg_is_in_recovery()")[0][0])

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def setup(self) -> None:
        """Create the cluster and start the server."""
        self.init().start()


class ReplicatedPostgres(Throwaway):
    """A primary and one streaming standby: ``url(db)`` lists both, libpq-style."""

    def __init__(self, *, settings: dict[str, str] | None = None) -> None:
        self.primary = PrivatePostgres(settings={"fsync": "off", **(settings or {})})
        self.standby: PrivatePostgres | None = None

    def url(self, database: str = "postgres", *, attrs: str | None = "read-write") -> str:
        """Return a multi-host URL of both servers (primary first) with *attrs*, if any."""
        assert self.standby is not None
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        query = f"?target_session_attrs={attrs}" if attrs else ""
        return f"postgresql://postgres@{hosts}/{database}{query}"

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Wait until the standby has replayed everything the primary wrote so far."""
        assert self.standby is not None
        (lsn,) = self.primary.query("SELECT pg_current_wal_lsn()::text")[0]
        deadline = time.monotonic() + timeout
        check = f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
        while not self.standby.query(check)[0][0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {lsn} in {timeout} s")
            time.sleep(0.05)

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """Pause the standby's replay for the block: it still receives the primary's WAL but
        applies none of it, so it falls behind for as long as the block lasts."""
        assert self.standby is not None
        self.standby.query("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            self.standby.query("SELECT pg_wal_replay_resume()")

    def cleanup(self) -> None:
        """Stop both servers and delete their directories."""
        if self.standby is not None:
            self.standby.cleanup()
        self.primary.cleanup()

    def setup(self) -> None:
        """Start the primary, then the standby from its base backup."""
        self.primary.init().start()
        self.standby = self.primary.standby()


class PrivateRedis(Throwaway):
    """A ``redis-server`` without persistence: a restart loses everything it held.

    With *acl* it starts through ``deploy/redis/start.sh``, as the compose deployments do:
    the users of ``deploy/redis/users.acl`` and no default user. *cluster* makes it a Redis
    Cluster node (with *acl*, also the ``admin`` and ``replication`` users, and replication
    as ``replication``).
    """

    def __init__(
        self, *, args: tuple[str, ...] = (), acl: RedisAcl | None = None, cluster: bool = False
    ) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="tv-redis-"))
        self.args = ("--cluster-enabled", "yes", *args) if cluster else args
        self.acl = acl
        self.cluster = cluster

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

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        argv = [shutil.which("redis-server") or "/usr/bin/redis-server"]
        env = None
        if self.acl is not None:
            argv = ["sh", str(START_SH)]
            env = {**os.environ, **self.acl.env(self.dir, cluster=self.cluster)}
        argv += ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no"]
        log = self.dir / "redis.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(  # start.sh execs redis-server: same process
                [*argv, *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(None, signal.SIGKILL),
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            _wait(lambda: _pings(client), self.proc, f"Redis on port {self.port}", log)
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
    except redis.ConnectionError:
        return False
