"""Per-process limits on long-lived responses: live streams and CSV exports.

A :class:`Slots` lets at most ``size`` holders in at once and refuses the next one at once
with :class:`~tickvault_api.errors.TooBusy` (HTTP 429 with ``Retry-After``): a request is
never queued behind a download that may last minutes. Each process has its own slots, so a
deployment's capacity is the limit times the processes (workers × replicas).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

from tickvault_api.errors import TooBusy


class Slot:
    """One held place; :meth:`release` gives it back (only the first call counts)."""

    __slots__ = ("_owner", "_released")

    def __init__(self, owner: Slots) -> None:
        self._owner = owner
        self._released = False

    def release(self) -> None:
        """Give the place back."""
        if not self._released:
            self._released = True
            self._owner._give_back()


class Slots:
    """At most *size* concurrent holders of *what* in this process."""

    def __init__(
        self, what: str, size: int, *, retry_after: int, in_use: Any = None, refused: Any = None
    ) -> None:
        self.what = what
        self.size = size
        self._retry_after = retry_after
        self._used = 0
        self._lock = threading.Lock()
        self._gauge = in_use  # a prometheus Gauge (or None)
        self._refused = refused  # a prometheus Counter child (or None)

    @property
    def used(self) -> int:
        """Return how many places are held."""
        return self._used

    def acquire(self) -> Slot:
        """Take a place, or raise ``TooBusy`` when all *size* are held."""
        with self._lock:
            if self._used >= self.size:
                if self._refused is not None:
                    self._refused.inc()
                raise TooBusy(
                    f"this server already serves {self.size} {self.what}, its limit; "
                    f"try again in {self._retry_after} s",
                    self._retry_after,
                )
            self._used += 1
        if self._gauge is not None:
            self._gauge.inc()
        return Slot(self)

    def _give_back(self) -> None:
        with self._lock:
            self._used -= 1
        if self._gauge is not None:
            self._gauge.dec()


SEND_TIMEOUT_SECONDS = 30.0  # a long-lived response whose client reads nothing this long ends


def bound_writes(environ: dict[str, Any], seconds: float = SEND_TIMEOUT_SECONDS) -> None:
    """Let a write to this request's client wait at most *seconds* (Gunicorn's socket).

    A client that stops reading without closing would otherwise pin its stream or export
    (and, for an export, its database connection) for as long as the TCP connection lives.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(seconds)


def direct_socket(environ: dict[str, Any]) -> tuple[socket.socket, bool] | None:
    """Return this request's socket and whether its body is chunked, when the app may write
    the body to it itself; else None.

    Only a ``GET`` over HTTP/1.0 or HTTP/1.1 on Gunicorn's non-blocking socket (its gevent
    workers), whose response has no ``Content-Length``: Gunicorn then frames the body as
    chunks exactly when the request is HTTP/1.1. A blocking socket (threads) or another
    server gives None: the live stream is not served there (503).
    """
    sock = environ.get("gunicorn.socket")
    protocol = environ.get("SERVER_PROTOCOL")
    if sock is None or environ.get("REQUEST_METHOD") != "GET":
        return None
    if protocol not in ("HTTP/1.0", "HTTP/1.1"):
        return None
    try:
        if os.get_blocking(sock.fileno()):
            return None
    except (OSError, ValueError):
        return None
    return sock, protocol == "HTTP/1.1"


def abort_connection(environ: dict[str, Any], reason: str) -> None:
    """End a streamed response so the client sees it incomplete, never cleanly finished.

    Under Gunicorn the socket is shut down (the chunked body then lacks its last chunk);
    elsewhere (a test client, another server) an exception stops the response.
    """
    sock = environ.get("gunicorn.socket")
    if sock is None:
        raise ConnectionAbortedError(reason)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
