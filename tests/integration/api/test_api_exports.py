"""CSV exports: a per-process limit (429 beyond), a server-side cursor, a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from tests.support.recordings import RecordedTrade

from tickvault_api import create_app
from tickvault_api.prices import CSV_CHUNK
from tickvault_api.settings import ApiSettings

WHOLE = "start=2024-08-08T23:50:00Z&end=2024-08-09T00:10:00Z"
EXPORT = f"/api/v1/prices/BTCUSDT/history?{WHOLE}&format=csv"


def test_exports_beyond_the_limit_get_429_and_latest_still_answers(
    api_settings: Callable[..., ApiSettings], client: object
) -> None:
    app = create_app(api_settings(api_max_exports=1))
    running = app.test_client().get(EXPORT, buffered=False)
    try:
        assert running.status_code == 200
        next(iter(running.response))  # the export is under way, holding its place
        refused = app.test_client().get(EXPORT)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert refused.get_json()["error"]["code"] == "too_busy"
        assert app.test_client().get("/api/v1/prices/BTCUSDT/latest").status_code == 200
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        running.close()
    with app.test_client().get(EXPORT) as again:
        assert again.status_code == 200  # the place was given back when the first one closed
        assert again.get_data().count(b"\n") > CSV_CHUNK
    metrics = app.test_client().get("/metrics").data
    assert b'tickvault_api_refused_total{limit="exports"} 1.0' in metrics
    assert b"tickvault_api_exports 0.0" in metrics
    app.extensions["tickvault"].stores.close()


def test_an_export_reads_from_a_server_side_cursor_a_batch_at_a_time(
    api_settings: Callable[..., ApiSettings],
    client: object,
    admin_engine: Engine,
    recorded: dict[str, list[RecordedTrade]],
) -> None:
    app = create_app(api_settings())
    response = app.test_client().get(EXPORT, buffered=False)
    chunks = iter(response.response)
    try:
        first = next(chunks)
        assert first.count(b"\n") == CSV_CHUNK + 1  # the header and one batch, nothing more
        with admin_engine.connect() as conn:
            running = conn.execute(
                text(
                    "SELECT query FROM pg_stat_activity "
                    "WHERE application_name = 'tickvault-api' AND query LIKE 'FETCH%'"
                )
            ).all()
        assert running, "the export does not fetch from a server-side cursor"
        rows = sum(c.count(b"\n") for c in chunks) + first.count(b"\n") - 1
    finally:
        response.close()
    assert rows == len(recorded["BTCUSDT"])
    app.extensions["tickvault"].stores.close()


def test_an_export_past_its_time_budget_is_cut_off_never_ended_cleanly(
    api_settings: Callable[..., ApiSettings], client: object
) -> None:
    app = create_app(api_settings(api_export_max_seconds=1))
    response = app.test_client().get(EXPORT, buffered=False)
    chunks = iter(response.response)
    try:
        next(chunks)
        time.sleep(1.2)  # a slow reader: the budget runs out before the next batch
        with pytest.raises(ConnectionAbortedError, match="longer than 1 s"):
            for _ in chunks:
                pass
    finally:
        response.close()
    metrics = app.test_client().get("/metrics").data
    assert b"tickvault_api_exports_cut_total 1.0" in metrics
    assert b"tickvault_api_exports 0.0" in metrics
    app.extensions["tickvault"].stores.close()
