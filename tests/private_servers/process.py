"""How the toolkit starts a server: a child process that dies with us, on ports no one holds.

Each server is a child process that the kernel kills when the process that started it dies
(``PR_SET_PDEATHSIG``), in a session of its own (a Ctrl-C sent to the test's process group
stays ours to relay), as another user when asked (``initdb`` refuses root).

A server that cannot bind its port to itself (``redis-server`` has no "any free port", and a
Redis Cluster node's bus port must be named too) is given ports that were free a moment ago,
which someone else can take before the server binds them. :class:`PortedServer` turns that
race into a retry: the first start of a server that exits saying "Address already in use"
(:class:`PortTaken`) draws new ports and starts again, up to :data:`PORT_ATTEMPTS` times. A
restart keeps the ports, since clients know them by then. Meanwhile whoever took the port
may answer on it, so a server counts as started only once ``/proc`` shows that the socket
listening on its port is its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Self

from tests.support.polling import wait_until

PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 60.0
PORT_ATTEMPTS = 5
TCP_LISTEN = "0A"  # the state of a listening socket in /proc/net/tcp
PORT_TAKEN = "Address already in use"  # what redis-server and postgres log then (errno text)


class PortTaken(RuntimeError):
    """A server exited because a port it was given was taken before it could bind it."""


def free_port() -> int:
    """Return a TCP port that was free on loopback a moment ago (see the module: a race)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_setup(user: str | None, deathsig: int) -> Callable[[], None]:
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


def listens_on(pid: int, port: int) -> bool:
    """Return whether process *pid* holds the socket listening on TCP *port* (read from
    ``/proc``: whoever else answers on the port is not *pid*)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == TCP_LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                    listening.add(f"socket:[{fields[9]}]")
    try:
        held = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except (FileNotFoundError, PermissionError):
        return False
    return bool(listening & held)


def wait_started(
    answers: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    port: int,
    what: str,
    log: Path,
    since: int,
) -> None:
    """Wait until *proc* listens on *port* and *answers*; raise :class:`PortTaken` or
    RuntimeError as soon as *proc* exits (what it logged after byte *since* of *log* says
    which)."""

    def logged() -> str:
        with log.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")[-2000:]

    def up() -> bool:
        if listens_on(proc.pid, port) and answers():
            return True
        if proc.poll() is not None:
            tail = logged()
            kind = PortTaken if PORT_TAKEN in tail else RuntimeError
            raise kind(f"{what} exited {proc.returncode} (see {log}):\n{tail}")
        return False

    wait_until(up, START_TIMEOUT_S, f"{what} to answer", context=logged)


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


class PortedServer(Throwaway):
    """A server on ports drawn by :meth:`choose_ports`, started by :meth:`launch`."""

    started = False

    def choose_ports(self) -> None:
        """Draw the server's ports afresh."""
        raise NotImplementedError

    def launch(self) -> None:
        """Start the process on the current ports and wait until it answers."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and wait until it answers. The first start draws new ports when
        one was taken meanwhile (at most :data:`PORT_ATTEMPTS` tries); a restart keeps them."""
        attempts = 1 if self.started else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                self.launch()
                break
            except PortTaken:
                if attempt == attempts:
                    raise
                self.choose_ports()
        self.started = True
