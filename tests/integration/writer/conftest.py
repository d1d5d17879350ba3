"""Fixtures of the writer's integration tests: settings wired to this test's stores, writers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from tests.integration.writer.writer_support import group_state

from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings


@pytest.fixture
def writer_settings(
    make_settings: Callable[..., Any], clean_db: Engine, redis_prefix: str
) -> Callable[..., WriterSettings]:
    """A factory of writer settings for this test (no maintenance, no metrics port)."""

    def make(**overrides: Any) -> WriterSettings:
        values: dict[str, Any] = {
            "retention_hours": 0,
            "candle_retention_days": 0,
            "writer_maintenance_interval_s": 0,
            "writer_metrics_port": 0,
            "writer_batch_size": 3000,
        }
        values.update(overrides)
        settings = make_settings(WriterSettings, **values)
        assert isinstance(settings, WriterSettings)
        return settings

    return make


@pytest.fixture
def make_writer(writer_settings: Callable[..., WriterSettings]) -> Iterator[Callable[..., Writer]]:
    """A factory of in-process writers, closed after the test."""
    made: list[Writer] = []

    def make(settings: WriterSettings | None = None, **kwargs: Any) -> Writer:
        writer = Writer(settings or writer_settings(), **kwargs)
        writer.reader.ensure_group()
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.close()


def drain(writer: Writer, client: redis.Redis, limit: int = 3000) -> int:
    """Step *writer* until its group has nothing pending or undelivered; return the batches."""
    for n in range(limit):
        if writer.step() == 0 and group_state(client, writer.keys) == (0, 0):
            return n
    raise AssertionError("the writer did not drain the stream")
