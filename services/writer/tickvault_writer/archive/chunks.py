"""Parse and encode a file's rows in a worker process, in order, while this one stores them.

One core parses CSV rows into ticks and encodes them for the store's fast path
(:func:`~tickvault_writer.prepare.prepare`); that is most of an import's CPU. So the rows go
to a worker process in chunks of :data:`CHUNK_ROWS` lines (:func:`parse_chunk`, pure), come
back as msgpack-encoded ticks plus the prepared COPY stream, and this process only decodes
them and hands them to the store, whose COPY runs in a thread. At most :data:`IN_FLIGHT`
chunks are out at once, so memory stays flat whatever the file size.

The file's time unit and header are read here from its first lines (:func:`file_shape`), so
every chunk is held to the same unit as the file's first row.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import msgspec

from tickvault.tick import MS_BELOW, Tick
from tickvault_writer.archive.rows import FileReader
from tickvault_writer.batch import Batch
from tickvault_writer.prepare import CannotPrepare, Prepared, prepare

CHUNK_ROWS = 20_000
IN_FLIGHT = 3
_ENCODE = msgspec.msgpack.Encoder()
_DECODE = msgspec.msgpack.Decoder(list[Tick])


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """What a worker made of one chunk of lines."""

    ticks: bytes  # msgpack of list[Tick]
    prepared: Prepared | None
    refused: int
    first_refusal: str


def file_shape(first_lines: list[str]) -> tuple[bool, bool | None]:
    """Return (a header row first, the file is in µs) from its first lines."""
    header = bool(first_lines) and not first_lines[0].strip()[:1].isdigit()
    for line in first_lines[1:] if header else first_lines:
        parts = line.split(",")
        if len(parts) == 7 and parts[4].strip().isdigit():
            return header, int(parts[4]) >= MS_BELOW
    return header, None


def parse_chunk(
    symbol: str, received_at: int, micros: bool | None, start: int, lines: list[str]
) -> ParsedChunk:
    """Parse *lines* (the file's lines from number *start* + 1) into encoded ticks (pure)."""
    reader = FileReader(symbol, received_at, micros=micros, lines=start)
    ticks = list(reader.ticks(lines))
    try:
        prepared = prepare(ticks) if ticks else None
    except CannotPrepare:
        prepared = None  # the store's fallback path names the row PostgreSQL refuses
    return ParsedChunk(_ENCODE.encode(ticks), prepared, reader.refused, reader.first_refusal)


def _line_chunks(lines: Iterable[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class FileShape:
    """What the file's rows said about it."""

    header: bool = False
    micros: bool | None = None
    refused: int = 0
    first_refusal: str = ""


PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Make this worker die when the import does (a kill gives it no chance to say so)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the import died before prctl
        os._exit(1)


class ChunkParser:
    """A worker process that parses chunks in order (one per import)."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with,
            initargs=(os.getpid(),),
        )

    def close(self) -> None:
        """Stop the worker."""
        self._pool.shutdown(cancel_futures=True)

    def batches(
        self, symbol: str, received_at: int, lines: Iterable[str], shape: FileShape
    ) -> Iterator[Batch]:
        """Yield the file's rows as batches ready for the store, in file order."""
        pending: deque[Future[ParsedChunk]] = deque()
        start = 0
        for chunk in _line_chunks(lines):
            if start == 0:
                shape.header, shape.micros = file_shape(chunk[:50])
            pending.append(
                self._pool.submit(parse_chunk, symbol, received_at, shape.micros, start, chunk)
            )
            start += len(chunk)
            if len(pending) >= IN_FLIGHT:
                yield self._batch(pending.popleft().result(), shape)
        while pending:
            yield self._batch(pending.popleft().result(), shape)

    @staticmethod
    def _batch(parsed: ParsedChunk, shape: FileShape) -> Batch:
        shape.refused += parsed.refused
        shape.first_refusal = shape.first_refusal or parsed.first_refusal
        ticks = tuple(_DECODE.decode(parsed.ticks))
        return Batch((), ticks, (), (), (), (), prepared=parsed.prepared)
