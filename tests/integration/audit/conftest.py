"""Fixtures of the auditor's integration tests: the recordings, a replay exchange that has
released all of them, and a writer that has stored all of them in ``trades``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from tests.integration.audit.audit_support import drain, feed, tick_of, wait
from tests.private_servers import ReplayProcess, replay_process
from tests.support.paths import TRADE_RECORDINGS
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.keys import RedisKeys
from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[RecordedTrade]]:
    """Both real recordings, by symbol."""
    return all_recorded_trades()


@pytest.fixture(scope="module")
def exchange() -> Iterator[ReplayProcess]:
    """The replay exchange with every recorded trade released to its REST endpoints.

    Nobody subscribes here, so the clock starts at launch (`--start-now`).
    """
    args: list[str] = []
    for path in TRADE_RECORDINGS:
        args += ["--recording", str(path)]
    with replay_process(*args, "--speed", "2000", "--start-now") as replay:
        wait(lambda: replay.stats()["finished"], "the replay to release every trade")
        yield replay


@pytest.fixture
def stored_recordings(
    clean_db: Engine,
    make_settings: Callable[..., Any],
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: dict[str, list[RecordedTrade]],
) -> Iterator[Writer]:
    """Both recordings stored in ``trades`` through a writer, every entry acknowledged."""
    settings = make_settings(
        WriterSettings, retention_hours=0, writer_metrics_port=0, writer_maintenance_interval_s=0
    )
    writer = Writer(settings, redis=redis_client)
    writer.reader.ensure_group()
    keys = RedisKeys(redis_prefix)
    feed(redis_client, keys, [tick_of(t) for trades in recorded.values() for t in trades])
    drain(writer, redis_client, keys)
    yield writer
    writer.close()
