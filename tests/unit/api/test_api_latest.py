"""Redis-backed endpoints and the CLI, on fakeredis and an in-process server on port 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from tests.support.recordings import FIRST_BTC_TICK
from werkzeug.serving import make_server

from tickvault.cli import main as tickvault_main
from tickvault.codec import latest_to_hash
from tickvault.keys import RedisKeys
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings


@pytest.fixture
def app() -> Any:
    redis = fakeredis.FakeRedis()
    redis.hset(RedisKeys("tickvault").latest("BTCUSDT"), mapping=latest_to_hash(FIRST_BTC_TICK))
    return create_app(ApiSettings(_env_file=None), redis=redis)  # type: ignore[call-arg]


def test_latest_answers_from_the_cache(app: Any) -> None:
    body = app.test_client().get("/api/v1/prices/btcusdt/latest").get_json()
    assert body["price"] == "61837.63000000" and body["trade_id"] == 3735683259
    assert body["trade_time"] == "2024-08-08T23:54:15.342Z"
    assert body["trade_time_ms"] == 1_723_161_255_342
    every = app.test_client().get("/api/v1/prices/latest").get_json()
    assert [p["symbol"] for p in every["prices"]] == ["BTCUSDT"]
    symbols = app.test_client().get("/api/v1/symbols").get_json()["symbols"]
    # the collector has not reported statuses (no symbols hash): status is null
    unreported = {"status": None, "status_since": None, "status_since_ms": None}
    assert symbols == [
        {"symbol": "BTCUSDT", "has_data": True, **unreported},
        {"symbol": "ETHUSDT", "has_data": False, **unreported},
    ]


def test_latest_errors(app: Any) -> None:
    client = app.test_client()
    assert client.get("/api/v1/prices/ETHUSDT/latest").get_json()["error"]["code"] == "no_data"
    error = client.get("/api/v1/prices/%00%ff/latest").get_json()["error"]
    assert error["code"] == "unknown_symbol"


def test_openapi_document_lists_every_endpoint(app: Any) -> None:
    paths = set(app.test_client().get("/openapi.json").get_json()["paths"])
    assert {
        "/api/v1/symbols",
        "/api/v1/prices/latest",
        "/api/v1/prices/{symbol}/latest",
        "/api/v1/prices/{symbol}/at",
        "/api/v1/prices/{symbol}/history",
        "/api/v1/prices/{symbol}/range",
        "/api/v1/prices/{symbol}/stats",
        "/api/v1/prices/{symbol}/candles",
        "/api/v1/stream",
        "/api/v1/gaps",
        "/healthz",
        "/readyz",
    } <= paths


def test_pages_and_assets_are_served_locally(app: Any) -> None:
    client = app.test_client()
    for url in ("/", "/docs"):
        with client.get(url) as response:
            page = response.get_data(as_text=True)
        assert "/static/vendor/" in page and "https://" not in page
    for asset in ("lightweight-charts.standalone.production.js", "swagger-ui-bundle.js"):
        with client.get(f"/static/vendor/{asset}") as response:
            assert response.status_code == 200 and len(response.get_data()) > 100_000


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=5)


def test_cli_prints_json_and_tables(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert tickvault_main(["query", "--url", server, "--json", "latest", "btcusdt"]) == 0
    assert json.loads(capsys.readouterr().out)["price"] == "61837.63000000"
    assert tickvault_main(["query", "--url", server, "latest"]) == 0
    assert "61837.63000000" in capsys.readouterr().out


def test_cli_reports_api_errors_in_one_line(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tickvault_main(["query", "--url", server, "latest", "DOGEUSDT"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tickvault query: unknown_symbol:") and "BTCUSDT, ETHUSDT" in err
    assert tickvault_main(["query", "--url", "http://127.0.0.1:1", "latest"]) == 1
    assert "cannot reach the API" in capsys.readouterr().err
