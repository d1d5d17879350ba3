"""The API reading from a streaming standby that falls behind its primary (replay paused while
the primary takes trades): past ``TICKVAULT_API_REPLICA_MAX_LAG_SECONDS`` it is not ready,
says why, shows the lag in its metrics, and refuses the answers that would come from the
standby incomplete (503 ``unavailable`` with the same reason) while Redis-backed ones go on;
once the standby has caught up it answers everything the primary holds. An answer given while
the standby trailed a window's end is not cached as the window's answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.api.expected import iso
from tests.integration.api.loading import store_ticks
from tests.private_servers import ReplicatedPostgres
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.config import Settings
from tickvault.db import migrate
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

REASON = "the standby the API reads from is"
LIMIT = "TICKVAULT_API_REPLICA_MAX_LAG_SECONDS is 1"


@dataclass
class HalfReplayed:
    """A database of this test's own on the primary and its standby, holding the first half of
    the ETHUSDT recording (replayed by the standby); the second half is for the test."""

    pair: ReplicatedPostgres
    name: str
    trades: list[Tick]
    make_settings: Callable[..., Settings]

    @property
    def half(self) -> int:
        return len(self.trades) // 2

    def window(self) -> str:
        """Return the query parameters of a window holding every trade."""
        first, last = self.trades[0].trade_time // 1000, self.trades[-1].trade_time // 1000
        return f"start={iso(first)}&end={iso(last + 1)}"

    def app(self, **overrides: Any) -> Flask:
        """Return an API reading from both servers (so preferring the standby)."""
        settings = self.make_settings(
            ApiSettings,
            database_url=self.pair.url(self.name),
            api_database_url=self.pair.url(self.name, attrs=None),
            symbols=("ETHUSDT",),
            retention_hours=0,
            **overrides,
        )
        return create_app(settings)

    def store_second_half(self) -> None:
        store_ticks(self.pair.url(self.name), self.trades[self.half :])


@pytest.fixture
def half_replayed(
    replicated_postgres: ReplicatedPostgres,
    make_settings: Callable[..., Settings],
    redis_prefix: str,
) -> HalfReplayed:
    pair = replicated_postgres
    name = f"tv_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(pair.url(name))
    made = HalfReplayed(
        pair, name, [t.tick() for t in all_recorded_trades()["ETHUSDT"]], make_settings
    )
    store_ticks(pair.url(name), made.trades[: made.half])
    pair.wait_replayed()
    return made


def test_a_standby_past_the_lag_limit_is_not_ready_and_its_answers_wait(
    half_replayed: HalfReplayed,
) -> None:
    db, pair = half_replayed, half_replayed.pair
    window, last = db.window(), iso(db.trades[-1].trade_time // 1000)
    count = f"/api/v1/prices/ETHUSDT/range?{window}"
    data_paths = [
        f"/api/v1/prices/ETHUSDT/history?{window}&limit=5000",
        f"/api/v1/prices/ETHUSDT/history?{window}&format=csv",
        f"/api/v1/prices/ETHUSDT/at?time={last}",
        count,
        f"/api/v1/prices/ETHUSDT/stats?{window}",
        f"/api/v1/prices/ETHUSDT/candles?interval=1m&{window}",
        "/api/v1/gaps",
    ]
    app = db.app(api_replica_max_lag_seconds=1, api_cache_ttl_seconds=0)
    with app.test_client() as client:
        assert _json(client, "/readyz", 200)["replica"]["standby"] is True
        assert _json(client, count, 200)["trades"] == db.half
        with pair.replay_paused():
            db.store_second_half()  # received by the standby, not replayed
            wait_until(lambda: client.get("/readyz").status_code == 503, 30, "/readyz to say 503")
            ready = _json(client, "/readyz", 503)["error"]
            assert ready["code"] == "unavailable"
            assert ready["message"].startswith(f"not ready: {REASON} ")
            assert LIMIT in ready["message"]
            assert _metric_lag(client) > 1
            for path in data_paths:
                refused = _json(client, path, 503)["error"]
                assert refused["code"] == "unavailable", path
                assert REASON in refused["message"] and LIMIT in refused["message"], path
            assert _json(client, "/api/v1/symbols", 200)["symbols"][0]["symbol"] == "ETHUSDT"
        pair.wait_replayed()
        wait_until(lambda: client.get("/readyz").status_code == 200, 30, "/readyz to say 200")
        assert _json(client, count, 200)["trades"] == len(db.trades)
        assert _metric_lag(client) <= 1


def test_an_answer_from_a_standby_behind_the_window_end_is_not_cached(
    half_replayed: HalfReplayed,
) -> None:
    db, pair = half_replayed, half_replayed.pair
    path = f"/api/v1/prices/ETHUSDT/range?{db.window()}"
    app = db.app(
        api_replica_max_lag_seconds=3600,  # answers allowed: this is about the cache
        api_cache_ttl_seconds=600,
        api_cache_grace_seconds=10,
    )
    # The present, as the API sees it: a second past the cache's grace after the window ended.
    end_ms = db.trades[-1].trade_time // 1000 + 1
    app.extensions["tickvault"].clock_us = lambda: (end_ms + 11_000) * 1000
    with app.test_client() as client:
        with pair.replay_paused():
            db.store_second_half()
            wait_until(lambda: _readyz_lag(client) >= 2, 30, "the standby 2 s behind")
            assert _json(client, path, 200)["trades"] == db.half  # what the standby replayed
        pair.wait_replayed()
        wait_until(lambda: _readyz_lag(client) == 0, 30, "the standby to catch up")
        assert _json(client, path, 200)["trades"] == len(db.trades)  # not the cached half


def _json(client: FlaskClient, path: str, status: int) -> Any:
    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:300])
    return response.get_json()


def _metric_lag(client: FlaskClient) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tickvault_api_replica_lag_seconds":
                return float(sample.value)
    raise AssertionError("no tickvault_api_replica_lag_seconds")


def _readyz_lag(client: FlaskClient) -> float:
    return float(_json(client, "/readyz", 200)["replica"]["lag_seconds"])
