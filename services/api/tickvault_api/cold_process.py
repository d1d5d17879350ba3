"""Cold computations in reader processes of their own, at the lowest CPU priority.

Under Gunicorn's gevent workers a cold read (Parquet I/O, decompression, Arrow sorts and
sums) run on a thread of the worker competes with the worker's loop for its GIL, and a thread
at a low priority that holds the GIL holds up the loop too. So each worker hands its cold
computations to up to :data:`COLD_PROCESSES` child processes (started on first use, at
niceness :data:`COLD_NICENESS`): a task, a module-level function of the cold location and
picklable arguments, goes down a socket pair as a pickle and its answer comes back the same
way, the worker's greenlet waiting on the socket without blocking the loop. The socket joins
the worker to its own children only; nothing else reads or writes it.

A reader that dies (killed, out of memory) answers its request ``unavailable`` with the
reason; the next request starts a new one. A failing store is ``unavailable`` as before. When
gevent has not patched the process (tests, the Flask dev server), the task runs inline.

    python -m tickvault_api.cold_process FD    (started by the worker, never by hand)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tickvault.cold.location import ColdLocation, open_location
from tickvault.cold.storage import ColdUnavailable
from tickvault.config import Settings
from tickvault_api.errors import Unavailable

T = TypeVar("T")
Task = Callable[..., T]  # a module-level function of the cold location and more arguments
COLD_PROCESSES = 2  # reader processes per worker: cold computations at once; more wait
# The lowest priority: a reader is a process of its own, so however long the kernel makes it
# wait, it holds no lock of the worker (the niced threads before could hold its GIL).
COLD_NICENESS = 19
_HEADER = struct.Struct("!Q")
_OK, _UNAVAILABLE, _ERROR = "ok", "unavailable", "error"


def _patched() -> bool:
    """Return whether gevent has patched this process (a Gunicorn gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


def _send(sock: socket.socket, value: Any) -> None:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(body)) + body)


def _receive(sock: socket.socket) -> Any:
    """Return the next value on *sock*; EOFError when the other end has gone."""
    (size,) = _HEADER.unpack(_exactly(sock, _HEADER.size))
    return pickle.loads(_exactly(sock, size))


def _exactly(sock: socket.socket, size: int) -> bytes:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise EOFError("the other end closed")
        got += n
    return bytes(buf)


class _Reader:
    """One reader process and the worker's end of its socket."""

    def __init__(self, settings: Settings) -> None:
        mine, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.sock = mine
        _send(mine, settings)

    def call(self, task: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
        """Return the reader's answer to ``task(location, *args)``: a kind and a value."""
        _send(self.sock, (task, args))
        return _receive(self.sock)  # type: ignore[no-any-return]

    def end(self) -> str:
        """Stop the process (if it still runs) and return how it ended."""
        self.sock.close()
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        return f"signal {-code}" if code < 0 else f"exit status {code}"


class ColdProcesses:
    """The reader processes of one worker (none inherited across Gunicorn's fork)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid = -1
        self._idle: list[_Reader] = []
        self._slots = threading.BoundedSemaphore(COLD_PROCESSES)

    def run(self, task: Task[T], location: Callable[[], ColdLocation], *args: Any) -> T:
        """Return ``task(location, *args)``: in a reader process when gevent has patched
        this one, else inline; a failing store or a reader gone is ``unavailable``."""
        if not _patched():
            try:
                return task(location(), *args)
            except ColdUnavailable as exc:
                raise Unavailable(str(exc)) from exc
        if self._pid != os.getpid():  # a fresh worker: its parent's readers are not its own
            self._pid, self._idle = os.getpid(), []
            self._slots = threading.BoundedSemaphore(COLD_PROCESSES)
        with self._slots:
            reader = self._idle.pop() if self._idle else _Reader(self._settings)
            try:
                kind, value = reader.call(task, args)
            except (OSError, EOFError) as exc:
                how = reader.end()
                raise Unavailable(
                    f"the cold reader process ended ({how}) during the request; a new one "
                    "starts with the next cold request"
                ) from exc
            except BaseException:  # a greenlet killed mid-request: the socket is mid-answer
                reader.end()
                raise
            self._idle.append(reader)
        if kind == _OK:
            return value  # type: ignore[no-any-return]
        if kind == _UNAVAILABLE:
            raise Unavailable(value)
        raise value


def _serve(fd: int) -> None:
    """Answer the worker's tasks on socket *fd* until it closes."""
    with contextlib.suppress(OSError):  # a platform that refuses: same answers, at par
        os.setpriority(os.PRIO_PROCESS, 0, COLD_NICENESS)
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)  # gevent made the worker's socket pair non-blocking
    settings: Settings = _receive(sock)
    location: ColdLocation | None = None
    while True:
        try:
            task, args = _receive(sock)
        except EOFError:
            return
        try:
            if location is None:
                location = open_location(settings)
            answer: tuple[str, Any] = (_OK, task(location, *args))
        except ColdUnavailable as exc:
            answer = (_UNAVAILABLE, str(exc))
        except Exception as exc:  # a bug: raised again in the worker (answered 500 there)
            answer = (_ERROR, exc)
        try:
            _send(sock, answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _send(sock, (_ERROR, RuntimeError(f"unpicklable cold answer: {exc!r}")))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
