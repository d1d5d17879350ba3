"""Every error code of docs/API.md, the read-only role, readiness and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg2
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from tests.integration.api.loading import READ_ONLY_ROLE, as_role
from tests.support.db import terminate_backends

from tickvault.db.engine import libpq_dsn
from tickvault.heartbeat import CollectorBeat, beat_value
from tickvault.keys import RedisKeys
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

BTC = "/api/v1/prices/BTCUSDT"


def error_of(client: FlaskClient, url: str, status: int) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == status, (url, response.data[:300])
    body: dict[str, dict[str, str]] = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (
            f"{BTC}/history?start=2024-08-09T00:00:00Z&end=2024-08-09T00:01:00Z&limit=0",
            "invalid_parameter",
        ),
        (
            f"{BTC}/history?start=2024-08-09T00:00:00Z&end=2024-08-09T00:01:00Z&limit=abc",
            "invalid_parameter",
        ),
        (
            f"{BTC}/history?start=2024-08-09T00:00:00Z&end=2024-08-09T00:01:00Z&cursor=zzz",
            "invalid_parameter",
        ),
        (f"{BTC}/history?start=2024-08-09T00:00:00Z", "invalid_parameter"),
        (f"{BTC}/at?time=2024-08-09T00:00:00Z&match=closest", "invalid_parameter"),
        (f"{BTC}/candles?interval=2m&start=1723161600000&end=1723161660000", "invalid_parameter"),
        (f"{BTC}/history?start=1723161600000&end=1723161660000&limit=%C2%B2", "invalid_parameter"),
        (f"{BTC}/at?time=%D9%A1%D9%A2", "invalid_time"),
        (f"{BTC}/at?time=yesterday", "invalid_time"),
        (f"{BTC}/at?time=99999999999999999", "invalid_time"),
        (f"{BTC}/range?minute=2024-08-09T25:00", "invalid_time"),
        (f"{BTC}/range?minute=2024-08-09", "invalid_time"),
        (f"{BTC}/stats?start=2024-08-09T00:01:00Z&end=2024-08-09T00:00:00Z", "invalid_range"),
        (f"{BTC}/history?start=1723161600000&end=1723161600000", "invalid_range"),
        (f"{BTC}/stats?start=2024-01-01T00:00:00Z&end=2024-08-09T00:00:00Z", "range_too_large"),
        (
            f"{BTC}/candles?interval=1s&start=2024-08-08T00:00:00Z&end=2024-08-09T00:00:00Z",
            "range_too_large",
        ),
        ("/api/v1/prices/DOGEUSDT/latest", "unknown_symbol"),
        ("/api/v1/prices/DOGEUSDT/at?time=1723161600000", "unknown_symbol"),
        ("/api/v1/gaps?symbol=nope", "unknown_symbol"),
        (f"{BTC}/at?time=2024-08-08T23:00:00Z", "no_data"),
        ("/api/v1/prices/XRPUSDT/at?time=1&match=nearest", "unknown_symbol"),
    ],
)
def test_bad_input_gets_the_spec_error_code(client: FlaskClient, url: str, code: str) -> None:
    status = {"unknown_symbol": 404, "no_data": 404}.get(code, 400)
    error = error_of(client, url, status)
    assert error["code"] == code
    if code == "unknown_symbol":
        assert "BTCUSDT, ETHUSDT" in error["message"]


def test_unknown_path_and_method_get_the_envelope(client: FlaskClient) -> None:
    assert error_of(client, "/api/v1/nothing", 404)["code"] == "not_found"
    response = client.post("/api/v1/symbols")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_range_of_a_minute_without_trades_is_zero_and_nulls(client: FlaskClient) -> None:
    body = client.get(f"{BTC}/range?minute=2024-08-09T03:00").get_json()
    assert body["trades"] == 0
    assert body["high"] is None and body["low"] is None and body["volume"] is None


def test_stores_down_answer_503_and_the_api_stays_up(
    api_settings: Callable[..., ApiSettings],
) -> None:
    dead_db = make_url(api_settings().database_url).set(port=1).render_as_string(False)
    settings = api_settings(redis_url="redis://127.0.0.1:1/0", api_database_url=dead_db)
    app = create_app(settings)
    client = app.test_client()
    for url in (
        "/api/v1/prices/latest",
        f"{BTC}/latest",
        "/api/v1/symbols",
        f"{BTC}/at?time=1723161600000",
        f"{BTC}/stats",
        f"{BTC}/history?start=1723161600000&end=1723161660000&format=csv",
    ):  # the live stream with Redis down: tests/integration/api/test_api_stream.py
        assert error_of(client, url, 503)["code"] == "unavailable", url
    assert error_of(client, "/readyz", 503)["code"] == "unavailable"
    assert client.get("/healthz").status_code == 200
    assert b"tickvault_api_unavailable_total" in client.get("/metrics").data


def test_statement_timeout_answers_503(api_settings: Callable[..., ApiSettings]) -> None:
    app = create_app(api_settings(api_statement_timeout_ms=100))
    stores = app.extensions["tickvault"].stores

    from tickvault_api.errors import Unavailable

    with pytest.raises(Unavailable, match="statement timeout"), stores.db() as conn:
        conn.execute(text("SELECT pg_sleep(2)"))
    stores.close()


def test_api_role_cannot_write(recordings_db: str) -> None:
    conn = psycopg2.connect(libpq_dsn(as_role(recordings_db, READ_ONLY_ROLE)))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM trades")
            assert cur.fetchone()[0] > 0  # type: ignore[index]
        for statement in (
            "INSERT INTO trade_gaps (symbol, first_id, last_id, status, found_by, detected_at)"
            " VALUES ('BTCUSDT', 1, 2, 'detected', 'test', now())",
            "UPDATE candles_1m SET trades = 0",
            "DELETE FROM trades",
            "CREATE TABLE intruder (x int)",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
                cur.execute(statement)
            conn.rollback()
    finally:
        conn.close()


def test_readyz_shows_the_collectors_repair_backlog_from_their_heartbeats(
    client: FlaskClient, redis_client: Any, redis_prefix: str
) -> None:
    keys = RedisKeys(redis_prefix)
    now = time.time_ns() // 1000
    redis_client.set(
        keys.heartbeat("collector", "a"), beat_value(CollectorBeat(now, 9, 2, 40, 12.5))
    )
    redis_client.set(
        keys.heartbeat("collector", "b"), beat_value(CollectorBeat(now, 1, 1, 2, 30.0))
    )
    redis_client.set(keys.heartbeat("collector", "old"), b"an older collector's value")
    assert client.get("/readyz").get_json() == {
        "status": "ready",
        "redis": True,
        "postgresql": True,
        "repair": {"collectors": 2, "calls_queued": 42, "oldest_gap_s": 30.0},
    }


def test_readyz_and_metrics_when_healthy(client: FlaskClient) -> None:
    assert client.get("/readyz").get_json() == {
        "status": "ready",
        "redis": True,
        "postgresql": True,
    }
    client.get(f"{BTC}/latest")
    metrics = client.get("/metrics").data.decode()
    assert (
        'tickvault_api_requests_total{route="/api/v1/prices/<symbol>/latest",status="200"} 1.0'
        in metrics
    )


def test_api_recovers_after_postgresql_drops_its_connections(
    api_settings: Callable[..., ApiSettings], admin_engine: Engine
) -> None:
    settings = api_settings()
    app = create_app(settings)
    client = app.test_client()
    url = f"{BTC}/at?time=2024-08-09T00:01:00Z"
    assert client.get(url).status_code == 200
    database = make_url(settings.database_url).database
    assert terminate_backends(admin_engine, "tickvault-api", database)
    statuses = [client.get(url).status_code for _ in range(3)]
    assert statuses[-1] == 200 and statuses.count(503) <= 1, statuses
    app.extensions["tickvault"].stores.close()
