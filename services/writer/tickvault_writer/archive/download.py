"""Fetch one archive file: the zip streamed to disk and hashed, checked against ``.CHECKSUM``.

The zip never sits whole in memory: it goes to a temporary file in chunks while its sha256 is
computed, and is read from there. A checksum that does not match earns one fresh download; a
second mismatch leaves the file out (its ids become holes, repaired from REST). A 404 means
the archive does not have the file; 5xx answers and network failures are retried under the
shared :class:`~tickvault.retry.RetryPolicy`, then the file counts as unavailable.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import aiohttp

from tickvault.retry import RetryPolicy

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ATTEMPTS = 4
POLICY = RetryPolicy(0.5, 8.0)


class Outcome(StrEnum):
    """What became of one file's download."""

    OK = "ok"
    MISSING = "missing"  # 404: the archive has no such file
    UNAVAILABLE = "unavailable"  # 5xx or network failures past the retries
    BAD_CHECKSUM = "bad_checksum"  # twice a zip whose sha256 is not the checksum's


@dataclass(frozen=True, slots=True)
class Fetched:
    """A downloaded file (``path`` set when ``outcome`` is OK) and its checksum."""

    outcome: Outcome
    sha256: str = ""
    path: Path | None = None
    size: int = 0
    detail: str = ""


class _Missing(Exception):
    pass


class Downloader:
    """Download archive files into a private temporary folder."""

    def __init__(self, session: aiohttp.ClientSession, folder: Path | None = None) -> None:
        self._session = session
        self._folder = folder or Path(tempfile.gettempdir())

    async def checksum(self, url: str) -> str:
        """Return the sha256 the archive states for the zip at *url* ('' when it has none)."""
        try:
            body = await self._get(url + ".CHECKSUM", None)
        except _Missing:
            return ""
        text = body.decode("ascii", "replace").strip()
        digest = text.split()[0].lower() if text else ""
        return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else ""

    async def fetch(self, url: str) -> Fetched:
        """Download the zip at *url* and check it; see :class:`Outcome`."""
        try:
            expected = await self.checksum(url)
            for attempt in (1, 2):
                path = Path(tempfile.mkstemp(suffix=".zip", dir=self._folder)[1])
                try:
                    sha, size = await self._download(url, path)
                except BaseException:
                    path.unlink(missing_ok=True)
                    raise
                if not expected:
                    return Fetched(Outcome.OK, sha, path, size, "no .CHECKSUM: not verified")
                if sha == expected:
                    return Fetched(Outcome.OK, sha, path, size)
                path.unlink(missing_ok=True)
                log.warning(
                    "%s: sha256 %s is not the checksum's %s (try %d)", url, sha, expected, attempt
                )
                if attempt == 1:
                    expected = await self.checksum(url) or expected
            return Fetched(Outcome.BAD_CHECKSUM, expected, detail=f"sha256 {sha} twice")
        except _Missing:
            return Fetched(Outcome.MISSING)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Fetched(Outcome.UNAVAILABLE, detail=str(exc) or type(exc).__name__)

    async def _download(self, url: str, path: Path) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0

        async def write(resp: aiohttp.ClientResponse) -> None:
            nonlocal size
            with path.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)

        await self._get(url, write)
        return digest.hexdigest(), size

    async def _get(self, url: str, sink: object) -> bytes:
        """GET *url*, retrying what is transient; the body, or streamed to *sink*."""
        backoff = POLICY.backoff()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._session.get(url) as resp:
                    if resp.status == 404:
                        raise _Missing
                    if resp.status == 200:
                        if sink is None:
                            return await resp.read()
                        await sink(resp)  # type: ignore[operator]
                        return b""
                    problem: Exception = aiohttp.ClientResponseError(
                        resp.request_info, (), status=resp.status, message=resp.reason or ""
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = exc
            if attempt == ATTEMPTS:
                raise problem
            await asyncio.sleep(backoff.next())
        raise AssertionError("unreachable")
