"""Where the cold tier lives: a local directory or an S3 bucket, as one pyarrow filesystem.

``TICKVAULT_COLD_URL`` is ``file:///path`` or ``s3://bucket/prefix``; an S3 store's endpoint and
credentials come from the standard ``AWS_*`` variables (any S3-compatible server: MinIO,
SeaweedFS, Ceph). :class:`ColdLocation` knows the layout and nothing about trades:
``<root>/trades/symbol=<SYMBOL>/date=<YYYY-MM-DD>/<file>.parquet`` (Hive partitioning, so
any Parquet reader sees ``symbol`` and ``date`` as columns) and ``<root>/_tmp/`` for files
still being written (outside ``trades/``, so no reader ever sees half a file).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pyarrow import fs as pafs

from tickvault.config import Settings

TRADES_DIR = "trades"
TMP_DIR = "_tmp"
# An object store that stops answering fails a request after this long (s), not never.
S3_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ColdLocation:
    """A filesystem and the root of the cold tier inside it."""

    filesystem: pafs.FileSystem
    root: str  # no trailing slash
    url: str  # for messages: never holds a secret (credentials come from AWS_* variables)

    @property
    def is_local(self) -> bool:
        """Return whether the tier is a directory of this machine (fsync applies)."""
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def day_dir(self, symbol: str, day: date) -> str:
        """Return the directory of one symbol's day (the symbol percent-encoded if need be)."""
        return f"{self.root}/{TRADES_DIR}/symbol={quote(symbol, safe='')}/date={day.isoformat()}"

    def new_file(self, symbol: str, day: date) -> str:
        """Return a fresh, never-used path for a file of *symbol*'s *day*."""
        return f"{self.day_dir(symbol, day)}/part-{uuid.uuid4().hex}.parquet"

    def temp_file(self, symbol: str, day: date) -> str:
        """Return a fresh path under the temporary directory for a file of *symbol*'s *day*
        (named after the day, so a stale one can be told from one being written)."""
        where = f"symbol={quote(symbol, safe='')}/date={day.isoformat()}"
        return f"{self.root}/{TMP_DIR}/{where}/{uuid.uuid4().hex}.parquet"

    def relative(self, path: str) -> str:
        """Return *path* relative to the root (what the manifest stores)."""
        return path.removeprefix(self.root + "/")

    def absolute(self, relative: str) -> str:
        """Return the full path of a manifest entry."""
        return f"{self.root}/{relative}"

    def day_of_path(self, relative: str) -> tuple[str, date] | None:
        """Return the symbol and day of a file under ``trades/`` or ``_tmp/`` (None: another)."""
        parts = relative.split("/")
        if len(parts) != 4 or parts[0] not in (TRADES_DIR, TMP_DIR):
            return None
        symbol, day = parts[1].removeprefix("symbol="), parts[2].removeprefix("date=")
        try:
            return unquote(symbol), date.fromisoformat(day)
        except ValueError:
            return None


def open_location(settings: Settings) -> ColdLocation | None:
    """Return the cold tier *settings* name, or None when ``TICKVAULT_COLD_URL`` is unset."""
    url = settings.cold_url
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        root = unquote(parts.path).rstrip("/") or "/"
        os.makedirs(root, exist_ok=True)
        return ColdLocation(pafs.LocalFileSystem(), root, url)
    secret = settings.aws_secret_access_key
    options: dict[str, Any] = {
        "access_key": settings.aws_access_key_id,
        "secret_key": None if secret is None else secret.get_secret_value(),
        "region": settings.aws_region or "us-east-1",
        "connect_timeout": S3_TIMEOUT_S,
        "request_timeout": S3_TIMEOUT_S,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2),
        "allow_bucket_creation": True,  # a fresh deployment's bucket is made on first write
    }
    if settings.aws_endpoint_url:
        endpoint = urlsplit(settings.aws_endpoint_url)
        options["endpoint_override"] = endpoint.netloc
        options["scheme"] = endpoint.scheme
    if not options["access_key"]:
        options.pop("access_key")
        options.pop("secret_key")
        options["anonymous"] = True
    root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return ColdLocation(pafs.S3FileSystem(**options), root, url)
