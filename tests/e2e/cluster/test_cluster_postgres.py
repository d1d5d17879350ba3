"""tickvault on a PostgreSQL primary with a streaming standby (``initdb`` + ``pg_basebackup``,
started by the fixtures): the API answers from the standby exactly what the primary answers,
a writer given the standby alone refuses it clearly, and writers carry on after the standby
is promoted mid-run."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from tests.integration.api.expected import iso
from tests.integration.api.loading import store_ticks
from tests.integration.writer.writer_support import assert_stored_exactly, trade_count
from tests.private_servers import ReplicatedPostgres, replayed_services, stack_env
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.config import Settings
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings


def _get(client: FlaskClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True))
    return response.get_json()


def test_the_api_answers_from_the_standby_what_it_answers_from_the_primary(
    replicated_postgres: ReplicatedPostgres, make_settings: Callable[..., Settings]
) -> None:
    pair = replicated_postgres
    assert pair.standby is not None
    name = f"tv_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(pair.url(name))
    trades = all_recorded_trades()["ETHUSDT"]
    store_ticks(pair.url(name), [t.tick() for t in trades])
    pair.wait_replayed()
    urls = {
        "primary": f"postgresql://postgres@127.0.0.1:{pair.primary.port}/{name}",
        # Both servers, no target_session_attrs: the API prefers the standby by itself.
        "standby": pair.url(name, attrs=None),
    }
    first, last = trades[0].trade_time_ms, trades[-1].trade_time_ms
    middle = first + (last - first) // 2
    paths = [
        f"/api/v1/prices/ETHUSDT/at?time={iso(middle)}&match=nearest",
        f"/api/v1/prices/ETHUSDT/at?time={iso(last)}",
        f"/api/v1/prices/ETHUSDT/range?start={iso(first)}&end={iso(last + 1)}",
        f"/api/v1/prices/ETHUSDT/stats?start={iso(first)}&end={iso(middle)}",
        f"/api/v1/prices/ETHUSDT/candles?interval=1m&start={iso(first)}&end={iso(last + 1)}",
        f"/api/v1/prices/ETHUSDT/history?start={iso(middle)}&end={iso(last + 1)}&limit=500",
    ]
    answers: dict[str, list[Any]] = {}
    ready: dict[str, Any] = {}
    for side, url in urls.items():
        settings = make_settings(
            ApiSettings,
            database_url=urls["primary"],
            api_database_url=url,
            api_cache_ttl_seconds=0,
            symbols=("ETHUSDT",),
            retention_hours=0,
        )
        app = create_app(settings)
        with app.test_client() as client:
            answers[side] = [_get(client, path) for path in paths]
            ready[side] = _get(client, "/readyz")
            metrics = client.get("/metrics").get_data(as_text=True)
        assert "tickvault_api_replica_lag_seconds" in metrics
    assert answers["standby"] == answers["primary"]
    assert answers["primary"][5]["trades"]  # the answers hold trades, not only emptiness
    assert "replica" not in ready["primary"]  # said only when reading from a standby
    assert ready["standby"]["replica"]["standby"] is True
    assert ready["standby"]["replica"]["lag_seconds"] is not None


def test_a_writer_given_the_standby_alone_stops_with_a_clear_error(
    replicated_postgres: ReplicatedPostgres, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    pair = replicated_postgres
    assert pair.standby is not None
    standby_url = f"postgresql://postgres@127.0.0.1:{pair.standby.port}/postgres"
    env = stack_env(standby_url, redis_url, redis_prefix)
    done = subprocess.run(
        [sys.executable, "-m", "tickvault_writer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "reaches a read-only standby: the writer needs the primary" in done.stderr


@pytest.mark.timeout(240)
def test_writers_follow_the_primary_when_the_standby_is_promoted_mid_run(
    new_replicated_postgres: ReplicatedPostgres, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    pair = new_replicated_postgres
    assert pair.standby is not None
    name = f"tv_{uuid.uuid4().hex[:8]}"
    url = pair.url(name)  # both servers, target_session_attrs=read-write
    migrate.upgrade(url)
    recorded = all_recorded_trades()
    expected = sum(len(ts) for ts in recorded.values())
    primary_engine = make_engine(f"postgresql://postgres@127.0.0.1:{pair.primary.port}/{name}")
    engine: Engine = make_engine(url)
    try:
        with replayed_services(
            tmp_path, url, redis_url, redis_prefix, speed=40, WRITER_RETRY_MAX_S="0.5"
        ) as services:
            services.start("writer-1", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w1")
            services.start("writer-2", "tickvault_writer", TICKVAULT_WRITER_CONSUMER="w2")
            services.start("collector", "tickvault_collector")
            wait_until(lambda: trade_count(primary_engine) > expected // 5, 90, "a fifth stored")
            primary_engine.dispose()
            pair.primary.stop("fast")  # a clean stop sends the standby every commit first
            before = pair.standby.query("SELECT count(*) FROM trades", name)[0][0]
            pair.standby.promote()
            assert not pair.standby.in_recovery()
            wait_until(lambda: trade_count(engine) >= expected, 120, "every trade", interval=0.2)
            assert before < expected  # the failover happened mid-run
            codes = services.terminate()
        assert codes == {"writer-1": 0, "writer-2": 0, "collector": 0}
        assert_stored_exactly(engine, recorded)
    finally:
        primary_engine.dispose()
        engine.dispose()
