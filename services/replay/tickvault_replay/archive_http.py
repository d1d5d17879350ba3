"""The ``/data/spot/{daily,monthly}/trades/...`` routes: the archive's zips and checksums.

A file is built on its first request (in a thread, so the market keeps its pace) into a
private folder and served from there; the folder goes when the exchange stops. Faults
(:class:`~tickvault_replay.faults.ArchiveFault`) are looked up per (symbol, period) on
every request, so a fault posted at run time applies to the next download.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from tickvault_replay.archive import (
    Period,
    checksum_text,
    file_rows,
    parse_file_name,
    published,
    write_zip,
)
from tickvault_replay.faults import ArchiveFault
from tickvault_replay.history import History

_NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    "<Message>The specified key does not exist.</Message></Error>"
)


@dataclass
class ArchiveFiles:
    """The archive of the synthetic symbols' histories, built on demand into a folder."""

    histories: dict[str, History]
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tv-archive-")))
    built: dict[tuple[str, str, str], str] = field(default_factory=dict)  # -> sha256
    downloads: dict[tuple[str, str], int] = field(default_factory=dict)
    errors_sent: dict[tuple[str, str], int] = field(default_factory=dict)
    _locks: dict[tuple[str, str, str], asyncio.Lock] = field(default_factory=dict)

    def close(self) -> None:
        """Remove the folder of built files."""
        shutil.rmtree(self.folder, ignore_errors=True)

    async def build(self, history: History, period: Period, fault: str | None) -> tuple[Path, str]:
        """Return the zip of *period* (built once per version) and its sha256."""
        key = (history.spec.symbol, period.text)
        version = min(1, self.downloads.get(key, 0)) if fault == "replaced" else 0
        name = f"{history.spec.symbol}-trades-{period.text}"
        tag = f"{fault or 'clean'}-{version}"
        path = self.folder / f"{period.text}-{len(self.built)}-{tag}.zip"
        slot = (*key, tag)
        async with self._locks.setdefault(slot, asyncio.Lock()):
            if slot not in self.built:
                rows = file_rows(history, period, fault, version)
                sha = await asyncio.to_thread(write_zip, path, f"{name}.csv", rows)
                self.built[slot] = f"{sha}:{path}"
        sha, _, where = self.built[slot].partition(":")
        return Path(where), sha


def _fault_of(faults: dict[tuple[str, str], ArchiveFault], symbol: str, period: str) -> str | None:
    fault = faults.get((symbol.upper(), period))
    return None if fault is None else fault.fault


async def serve_file(
    request: web.Request, files: ArchiveFiles, faults: dict[tuple[str, str], ArchiveFault]
) -> web.StreamResponse:
    """Answer one archive request: a zip, its ``.CHECKSUM``, or Binance's 404."""
    kind, symbol, name = (
        request.match_info["kind"],
        request.match_info["symbol"],
        request.match_info["name"],
    )
    checksum = name.endswith(".CHECKSUM")
    parsed = parse_file_name(name.removesuffix(".CHECKSUM"))
    history = files.histories.get(symbol)
    today = datetime.now(UTC).date()
    if (
        parsed is None
        or history is None
        or parsed[0] != symbol
        or parsed[1].monthly != (kind == "monthly")
        or not published(history, parsed[1], today)
    ):
        return _missing()
    period = parsed[1]
    key = (symbol, period.text)
    fault = _fault_of(faults, symbol, period.text)
    if fault == "missing":
        return _missing()
    if fault == "http_error":
        script = faults[(symbol.upper(), period.text)]
        sent = files.errors_sent.get(key, 0)
        if sent < script.count:
            files.errors_sent[key] = sent + 1
            return web.Response(status=503, text="Service Unavailable")
    path, sha = await files.build(history, period, fault)
    zip_name = name.removesuffix(".CHECKSUM")
    if checksum:
        if fault == "bad_checksum":
            sha = sha[::-1]
        return web.Response(text=checksum_text(sha, zip_name), content_type="text/plain")
    files.downloads[key] = files.downloads.get(key, 0) + 1
    return web.FileResponse(path, headers={"Content-Type": "application/zip"})


def _missing() -> web.Response:
    return web.Response(status=404, text=_NOT_FOUND, content_type="application/xml")
