"""Private PostgreSQL servers: one alone (:class:`PrivatePostgres`) or a primary with a
streaming standby (:class:`ReplicatedPostgres`), for tests, ``make bench`` and ``make chaos``.

``initdb`` + ``postgres`` in a temporary directory (trust authentication, superuser
``postgres``, ``track_commit_timestamp`` on), ``pg_basebackup -R`` for a standby. As root,
PostgreSQL runs as the ``postgres`` user (``initdb`` refuses root). Started as
:mod:`tests.private_servers.process` says: dies with us, and moves to a new port when the one
it was given was taken before it could bind it.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from tests.private_servers.process import (
    PortedServer,
    Throwaway,
    child_setup,
    free_port,
    wait_started,
)
from tests.support.polling import wait_until

STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def pg_bin(name: str) -> str:
    """Return the path of PostgreSQL's program *name* (the newest installed version)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: install the PostgreSQL server package")
    return path


class PrivatePostgres(PortedServer):
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
            pg_bin("initdb"),
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

    def choose_ports(self) -> None:
        """Draw a new port (before the first start only: see :class:`PortedServer`)."""
        self.port = free_port()

    def launch(self) -> None:
        """Start ``postgres`` on :attr:`port` and wait until it accepts connections."""
        argv = [pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port)]
        argv += ["-k", str(self.dir)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        with self.log.open("ab") as log:
            since = log.tell()
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=child_setup(self._user, signal.SIGQUIT),
            )
        what = f"PostgreSQL on port {self.port}"
        wait_started(self._answers, self.proc, self.port, what, self.log, since)

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
                pg_bin("pg_basebackup"),
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
        check = f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
        standby = self.standby
        wait_until(lambda: standby.query(check)[0][0], timeout, f"the standby to replay {lsn}")

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
