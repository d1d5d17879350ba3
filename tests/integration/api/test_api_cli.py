"""``tickvault query`` against a live API on the recordings: JSON equals the API, tables read."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tickvault.cli import main as tickvault_main
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings


@pytest.fixture
def server(api_settings: Callable[..., ApiSettings], client: Any) -> Iterator[tuple[str, Any]]:
    app = create_app(api_settings())
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", client
    srv.shutdown()
    thread.join(timeout=5)
    app.extensions["tickvault"].stores.close()


QUESTIONS = [
    (
        ["at", "BTCUSDT", "2024-08-09T00:01:02Z"],
        "/api/v1/prices/BTCUSDT/at?time=2024-08-09T00:01:02Z",
    ),
    (
        ["range", "ethusdt", "--minute", "2024-08-09T00:02"],
        "/api/v1/prices/ETHUSDT/range?minute=2024-08-09T00:02",
    ),
    (
        ["stats", "BTCUSDT", "--start", "2024-08-09T00:00:00Z", "--end", "2024-08-09T00:03:00Z"],
        "/api/v1/prices/BTCUSDT/stats?start=2024-08-09T00:00:00Z&end=2024-08-09T00:03:00Z",
    ),
    (
        [
            "candles",
            "BTCUSDT",
            "--interval",
            "1m",
            "--start",
            "1723161600000",
            "--end",
            "1723161900000",
        ],
        "/api/v1/prices/BTCUSDT/candles?interval=1m&start=1723161600000&end=1723161900000",
    ),
]


@pytest.mark.parametrize(("argv", "url"), QUESTIONS)
def test_query_json_is_the_api_answer(
    server: tuple[str, Any], capsys: pytest.CaptureFixture[str], argv: list[str], url: str
) -> None:
    base, client = server
    assert tickvault_main(["query", "--url", base, "--json", *argv]) == 0
    assert json.loads(capsys.readouterr().out) == client.get(url).get_json()


def test_query_history_follows_every_page(
    server: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base, client = server
    window = ["--start", "2024-08-09T00:00:00Z", "--end", "2024-08-09T00:00:30Z"]
    argv = ["query", "--url", base, "--json", "history", "BTCUSDT", *window, "--limit", "50"]
    assert tickvault_main(argv) == 0
    got = json.loads(capsys.readouterr().out)["trades"]
    url = "/api/v1/prices/BTCUSDT/history?start=2024-08-09T00:00:00Z&end=2024-08-09T00:00:30Z"
    want = client.get(url + "&limit=5000").get_json()["trades"]
    assert got == want and len(got) > 50


def test_query_prints_tables_with_exact_values(
    server: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base, client = server
    assert tickvault_main(["query", "--url", base, "stats", "ETHUSDT"]) == 0
    table = capsys.readouterr().out
    body = client.get("/api/v1/prices/ETHUSDT/stats").get_json()
    for key in ("mean", "median", "stddev", "vwap", "change_pct"):
        assert body[key] in table
