"""Many Server-Sent-Events clients in one thread: raw sockets and a selector.

Used by the streams end-to-end test (200 clients) and ``bench/api_streams.py`` (thousands):
a thread per client would measure the client, not the server. Each client sends an HTTP/1.0
``GET`` (the body is not chunked) or, with ``http11=True``, an HTTP/1.1 one as browsers do
(the body is chunked and decoded here), checks the status line, and counts the ``price``
events it receives with their arrival time (read right after each ``recv``) and the trade
time they carry.
"""

from __future__ import annotations

import contextlib
import re
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

_TRADE_MS = re.compile(rb'"trade_time_ms":(\d+)')
_TRADE_ID = re.compile(rb'"trade_id":(\d+)')
_SYMBOL = re.compile(rb'"symbol":"([^"]*)"')


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit to *wanted* (at most the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(soft, target)


@dataclass
class Client:
    """What one connection has seen."""

    sock: socket.socket
    chunked: bool = False
    buffer: bytes = b""
    raw: bytes = b""  # chunked framing not decoded yet
    status: int | None = None
    events: int = 0
    errors: list[bytes] = field(default_factory=list)
    closed: bool = False
    arrivals: list[float] = field(default_factory=list)  # wall time of each price event
    trade_ms: list[int] = field(default_factory=list)  # the trade time each one carried
    trade_ids: list[int] = field(default_factory=list)
    symbols: list[bytes] = field(default_factory=list)


class SseClients:
    """*count* clients of ``GET path`` on ``host:port``, read by one background thread."""

    def __init__(
        self, host: str, port: int, path: str, count: int, *, http11: bool = False
    ) -> None:
        self.host, self.port, self.path, self.count = host, port, path, count
        self.http11 = http11
        self.clients: list[Client] = []
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sse-clients", daemon=True)

    def start(self, *, batch: int = 100, timeout: float = 60.0) -> None:
        """Connect every client, *batch* at a time, each batch answered before the next."""
        raise_fd_limit(self.count + 256)
        self._thread.start()
        deadline = time.monotonic() + timeout
        version = "1.1" if self.http11 else "1.0"
        request = f"GET {self.path} HTTP/{version}\r\nHost: {self.host}\r\n\r\n".encode()
        while len(self.clients) < self.count:
            fresh = []
            for _ in range(min(batch, self.count - len(self.clients))):
                sock = socket.create_connection((self.host, self.port), timeout=10)
                sock.sendall(request)
                sock.setblocking(False)
                client = Client(sock)
                fresh.append(client)
                with self._lock:
                    self.clients.append(client)
                    self._selector.register(sock, selectors.EVENT_READ, client)
            while any(c.status is None and not c.closed for c in fresh):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(self.clients)} clients connected, some unanswered")
                time.sleep(0.02)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                empty = not self._selector.get_map()
            if empty:
                time.sleep(0.01)
                continue
            for key, _ in self._selector.select(timeout=0.05):
                self._read(key.data)

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.time()
        if not data:
            client.closed = True
            with self._lock:
                self._selector.unregister(client.sock)
            client.sock.close()
            return
        if client.status is None:
            client.raw += data
            head, sep, rest = client.raw.partition(b"\r\n\r\n")
            if not sep:
                return
            client.status = int(head.split(b" ", 2)[1])
            client.chunked = b"transfer-encoding: chunked" in head.lower()
            client.raw, data = b"", rest
        if client.chunked:
            data = _dechunk(client, data)
        client.buffer += data
        *blocks, client.buffer = client.buffer.split(b"\n\n")
        for block in blocks:
            if block.startswith(b"event: price"):
                client.events += 1
                client.arrivals.append(now)
                trade_ms, trade_id = _TRADE_MS.search(block), _TRADE_ID.search(block)
                symbol = _SYMBOL.search(block)
                client.trade_ms.append(int(trade_ms.group(1)) if trade_ms else -1)
                client.trade_ids.append(int(trade_id.group(1)) if trade_id else -1)
                client.symbols.append(symbol.group(1) if symbol else b"")
            elif block.startswith(b"event: error"):
                client.errors.append(block)

    def close(self) -> None:
        """Stop reading and close every connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for client in self.clients:
            with contextlib.suppress(OSError):
                client.sock.close()
        self._selector.close()


def _dechunk(client: Client, data: bytes) -> bytes:
    """Return the body bytes of the complete chunks in *data*, keeping any partial one."""
    body, client.raw, _ = decode_chunks(client.raw + data)
    return body


def decode_chunks(raw: bytes) -> tuple[bytes, bytes, bool]:
    """Decode the complete chunks at the start of *raw* (an HTTP/1.1 chunked body); return
    their bytes, what follows them (a partial chunk) and whether the last chunk came."""
    out = []
    while True:
        size_line, sep, rest = raw.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0], 16)
        if len(rest) < size + 2:
            break
        out.append(rest[:size])
        raw = rest[size + 2 :]
        if size == 0:
            return b"".join(out), raw, True
    return b"".join(out), raw, False
