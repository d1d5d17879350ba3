"""A file's rows in blocks, each made ready for the store: by columns, or row by row.

The zip's CSV member is read in blocks of about :data:`BLOCK_BYTES` cut at a line end, so
memory stays flat whatever the file size. The file's header and time unit are read from its
first lines (:func:`file_shape`) and every block is held to that unit. A block goes through
:func:`~tickvault_writer.archive.columns.read_block` (whole columns, the GIL let go) when its
rows allow; otherwise through :class:`~tickvault_writer.archive.rows.FileReader` and
:func:`~tickvault_writer.prepare.prepare`, the exact path, which names and counts each refused
row. Both give the store the same thing for the same rows, byte for byte.
"""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tickvault.tick import MS_BELOW
from tickvault_writer.archive.columns import read_block
from tickvault_writer.archive.rows import FileReader
from tickvault_writer.prepare import CannotPrepare, Prepared, prepare
from tickvault_writer.store import Rows, TickRows

BLOCK_BYTES = 2 << 20  # about 29,000 rows of a spot trades file
SHAPE_LINES = 50


@dataclass
class FileShape:
    """What the file's rows said about it."""

    header: bool = False
    micros: bool | None = None
    refused: int = 0
    first_refusal: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One block's trades, ready for the store, and their ids in file order."""

    rows: Rows
    ids: list[int]
    first_time: int  # of the first trade (0 when there is none)


def file_shape(first_lines: list[str]) -> tuple[bool, bool | None]:
    """Return (a header row first, the file is in µs) from its first lines."""
    header = bool(first_lines) and not first_lines[0].strip()[:1].isdigit()
    for line in first_lines[1:] if header else first_lines:
        parts = line.split(",")
        if len(parts) == 7 and parts[4].strip().isdigit():
            return header, int(parts[4]) >= MS_BELOW
    return header, None


def _lines(block: bytes) -> io.StringIO:
    """Return *block* as text whose lines split as the zip member's text stream would."""
    return io.StringIO(block.decode("utf-8", errors="replace"), newline="")


def blocks(path: Path) -> Iterator[bytes]:
    """Yield the CSV members of the zip at *path* in blocks of whole lines (streamed)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            rest = b""
            with archive.open(info) as raw:
                while data := raw.read(BLOCK_BYTES):
                    end = data.rfind(b"\n") + 1
                    if not end:
                        rest += data
                        continue
                    yield rest + data[:end]
                    rest = data[end:]
            if rest:
                yield rest


def chunks(path: Path, symbol: str, received_at: int, shape: FileShape) -> Iterator[Chunk]:
    """Yield the trades of the zip at *path*, a block at a time, in file order."""
    line = 0
    for number, block in enumerate(blocks(path)):
        body = block
        if number == 0:
            shape.header, shape.micros = file_shape(
                list(itertools.islice(_lines(block), SHAPE_LINES))
            )
            first = block[: block.find(b"\n") + 1 or len(block)]
            text = first.decode("utf-8", errors="replace").strip()
            if text and not text[:1].isdigit():  # the row reader's rule for a header
                body = block[len(first) :]
            if b"\r" in first.removesuffix(b"\r\n"):
                body = b""  # a CR would end the first line early: read it by row
        rows = None
        if body and shape.micros is not None:
            rows = read_block(body, symbol, received_at, shape.micros)
        if rows is not None:
            line += block.count(b"\n")
            yield Chunk(rows, rows.trade_ids(), rows.times[0].as_py())
            continue
        reader = FileReader(symbol, received_at, micros=shape.micros, lines=line)
        ticks = list(reader.ticks(_lines(block)))
        line = reader.lines
        shape.refused += reader.refused
        shape.first_refusal = shape.first_refusal or reader.first_refusal
        prepared: Prepared | None = None
        try:
            prepared = prepare(ticks) if ticks else None
        except CannotPrepare:
            prepared = None  # the store's fallback path names the row PostgreSQL refuses
        first_time = ticks[0].trade_time if ticks else 0
        yield Chunk(TickRows(ticks, prepared), [t.trade_id for t in ticks], first_time)
