"""Fixtures of the cold tier's tests: a database holding both real recordings, and a cold
tier in a fresh local directory (the S3 tests add a SeaweedFS server of their own).

The recordings run from 2024-08-08 23:54 to 2024-08-09 00:05 UTC: a cut at midnight moves
the first day to the cold tier and keeps the second hot, so every answer spans the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from tests.integration.api.loading import READ_ONLY_ROLE, as_role, store_ticks, to_tick
from tests.private_servers.seaweedfs import PrivateSeaweedFS
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.cold.location import ColdLocation, open_location
from tickvault.config import Settings
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

MIDNIGHT = datetime(2024, 8, 9, tzinfo=UTC)  # the recordings' day boundary


@pytest.fixture(scope="session")
def recorded() -> dict[str, list[RecordedTrade]]:
    """Both real recordings, by symbol."""
    return all_recorded_trades()


@pytest.fixture
def loaded_db(
    new_database: Callable[[], str], recorded: dict[str, list[RecordedTrade]]
) -> Iterator[tuple[str, Engine]]:
    """A fresh migrated database holding every recorded trade (and its candles)."""
    url = new_database()
    migrate.upgrade(url, create_database=False)
    store_ticks(url, [to_tick(r) for trades in recorded.values() for r in trades])
    engine = make_engine(url, application_name="tickvault-cold-tests")
    yield url, engine
    engine.dispose()


def cold_settings(url: str, cold_url: str, **more: Any) -> Settings:
    """Settings of a deployment on *url* with its cold tier at *cold_url*."""
    return Settings(_env_file=None, database_url=url, cold_url=cold_url, **more)  # type: ignore[call-arg]


@pytest.fixture
def seaweedfs() -> Iterator[PrivateSeaweedFS]:
    """A private SeaweedFS S3 server of the test's own (a test may kill it)."""
    with PrivateSeaweedFS() as server:
        yield server


@dataclass
class ColdTier:
    """A cold tier under test: its URL, the AWS variables it needs, its location."""

    url: str
    aws: dict[str, str]
    location: ColdLocation
    server: PrivateSeaweedFS | None


@pytest.fixture(params=["local", "s3"])
def cold_tier(request: pytest.FixtureRequest, tmp_path: Path) -> ColdTier:
    """A fresh cold tier: a local directory, or a prefix on a real S3 server (SeaweedFS)."""
    if request.param == "local":
        url, aws, server = f"file://{tmp_path / 'cold'}", {}, None
    else:
        server = request.getfixturevalue("seaweedfs")
        url, aws = f"s3://cold/{uuid.uuid4().hex}", server.env()
    location = open_location(cold_settings("postgresql://x@127.0.0.1/x", url, **aws))
    assert location is not None
    return ColdTier(url, aws, location, server)


def api_app(url: str, redis_url: str, redis_prefix: str, **more: Any) -> Any:
    """Return the API app of the deployment on *url*, read through the read-only role."""
    settings = ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        api_database_url=as_role(url, READ_ONLY_ROLE),
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        api_cache_ttl_seconds=0,
        **more,
    )
    return create_app(settings)
