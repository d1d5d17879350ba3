"""The API answers the same whether the trades are hot, cold or on both sides of the boundary.

Two deployments hold the same real recordings: in one every trade is hot; in the other the
first day (2024-08-08) has moved to the cold tier. Every answer must be byte-identical.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from tests.integration.api.loading import READ_ONLY_ROLE, as_role, store_ticks, to_tick
from tests.integration.cold.conftest import MIDNIGHT, ColdTier, api_app
from tests.private_servers import Services, free_port, stack_env
from tests.support.recordings import RecordedTrade

from tickvault.cold import move, parquet
from tickvault.db import migrate

MS = int(MIDNIGHT.timestamp() * 1000)
_URLS = [
    # the price at a second: in the cold day, in the hot one, right across the boundary
    *(f"/api/v1/prices/BTCUSDT/at?time={MS + d}" for d in (-300_000, -1, 0, 999, 120_000)),
    *(f"/api/v1/prices/ETHUSDT/at?time={MS + d}&match=nearest" for d in (-61_500, -1, 1, 7_000)),
    "/api/v1/prices/BTCUSDT/at?time=2024-08-08T23:00:00Z",
    "/api/v1/prices/BTCUSDT/range?minute=2024-08-08T23:58",
    f"/api/v1/prices/BTCUSDT/range?start={MS - 90_500}&end={MS + 61_250}",
    f"/api/v1/prices/ETHUSDT/range?start={MS - 400_000}&end={MS - 1}",
    f"/api/v1/prices/BTCUSDT/stats?start={MS - 3_600_000}&end={MS + 3_600_000}",
    f"/api/v1/prices/ETHUSDT/stats?start={MS - 200_123}&end={MS}",
    "/api/v1/prices/BTCUSDT/stats",
    "/api/v1/prices/ETHUSDT/stats",
    *(
        f"/api/v1/prices/BTCUSDT/candles?interval={i}&start={MS - 600_000}&end={MS + 600_000}"
        for i in ("1s", "1m", "5m", "1h", "1d")
    ),
    "/api/v1/gaps",
]
# instants all over the cold day's last minutes, so lookups cross row groups of every size
_INSTANTS = [
    f"/api/v1/prices/{symbol}/at?time={MS - d}&match={match}"
    for symbol in ("BTCUSDT", "ETHUSDT")
    for match in ("before", "nearest")
    for d in range(1, 360_000, 23_417)
]


@pytest.fixture(params=[1000, 65_536], ids=["small-row-groups", "row-groups-of-older-files"])
def hot_and_cold(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    new_database: Callable[[], str],
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
    redis_url: str,
    redis_prefix: str,
) -> Iterator[tuple[FlaskClient, FlaskClient]]:
    """Test clients of the all-hot deployment and of the one with a cold first day, its files
    written in row groups of many sizes (files written before the size changed included)."""
    monkeypatch.setattr(parquet, "ROW_GROUP", request.param)
    hot_url = new_database()
    migrate.upgrade(hot_url, create_database=False)
    store_ticks(hot_url, [to_tick(r) for trades in recorded.values() for r in trades])
    cold_db, engine = loaded_db
    location = cold_tier.location
    assert move.move_expired(engine, location, MIDNIGHT).trades > 0
    hot_app = api_app(hot_url, redis_url, redis_prefix)
    cold_app = api_app(cold_db, redis_url, redis_prefix, cold_url=cold_tier.url, **cold_tier.aws)
    yield hot_app.test_client(), cold_app.test_client()
    for app in (hot_app, cold_app):
        app.extensions["tickvault"].stores.close()


def _walk(client: FlaskClient, url: str) -> list[Any]:
    pages, cursor = [], None
    while True:
        got = client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert got.status_code == 200, got.data[:300]
        body = got.get_json()
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_answers_over_cold_and_spanning_data_equal_the_answers_over_hot_data(
    hot_and_cold: tuple[FlaskClient, FlaskClient],
) -> None:
    hot, cold = hot_and_cold
    for url in _URLS + _INSTANTS:
        h, c = hot.get(url), cold.get(url)
        assert (c.status_code, c.data) == (h.status_code, h.data), url
        assert h.status_code in (200, 404), (url, h.data[:200])


def test_history_pages_and_csv_cross_the_boundary_like_hot_ones(
    hot_and_cold: tuple[FlaskClient, FlaskClient],
) -> None:
    hot, cold = hot_and_cold
    for symbol in ("BTCUSDT", "ETHUSDT"):
        url = f"/api/v1/prices/{symbol}/history?start={MS - 420_000}&end={MS + 300_000}&limit=997"
        pages = _walk(cold, url)
        assert len(pages) > 2
        assert pages == _walk(hot, url)
        csv_url = url.replace("&limit=997", "&format=csv")
        h, c = hot.get(csv_url), cold.get(csv_url)
        assert c.status_code == h.status_code == 200
        assert c.data == h.data and c.data.count(b"\n") > 1000


def test_a_cold_tier_gone_away_answers_503_not_a_shorter_answer(
    hot_and_cold: tuple[FlaskClient, FlaskClient], cold_tier: ColdTier
) -> None:
    _, cold = hot_and_cold
    location = cold_tier.location
    if cold_tier.server is not None:
        cold_tier.server.kill()  # the object store goes away
    else:
        location.filesystem.delete_dir(location.root + "/trades")
    spanning = f"/api/v1/prices/BTCUSDT/history?start={MS - 60_000}&end={MS + 60_000}"
    for url in (_URLS[0], _URLS[10], spanning):
        got = cold.get(url)
        assert got.status_code == 503, (url, got.data[:300])
        assert got.get_json()["error"]["code"] == "unavailable"
        assert "cold tier" in got.get_json()["error"]["message"]
    # what lies wholly in the hot tier still answers
    assert cold.get(f"/api/v1/prices/BTCUSDT/range?start={MS}&end={MS + 60_000}").status_code == 200


def test_tickvault_api_under_gunicorn_answers_like_hot_ones_and_503_when_a_reader_dies(
    hot_and_cold: tuple[FlaskClient, FlaskClient],
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    """The cold reads run in reader processes in the real server: the same answers; a
    reader killed answers 503 ``unavailable`` once, and a new one answers the next request;
    an object store gone answers 503 too."""
    hot, _ = hot_and_cold
    url, _ = loaded_db
    port = free_port()
    env = stack_env(
        url,
        redis_url,
        redis_prefix,
        COLD_URL=cold_tier.url,
        API_BIND=f"127.0.0.1:{port}",
        API_WORKERS="1",
        API_CACHE_TTL_SECONDS="0",
        API_DATABASE_URL=as_role(url, READ_ONLY_ROLE),
    )
    services = Services(env | cold_tier.aws, tmp_path)
    services.start("api", "tickvault_api")
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _answers(base + "/readyz"):
            assert services.running("api") and time.monotonic() < deadline, services.log("api")
            time.sleep(0.1)
        history = f"/api/v1/prices/BTCUSDT/history?start={MS - 420_000}&end={MS + 300_000}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path in [*_URLS, history, history + "&format=csv"]:
            conn.request("GET", path)
            got = conn.getresponse()
            expected = hot.get(path)
            assert (got.status, got.read()) == (expected.status_code, expected.data), path
        readers = _readers(services.procs["api"].pid)
        assert readers, "no cold reader process under the API"
        for pid in readers:
            os.kill(pid, signal.SIGKILL)
        cold_at = _URLS[0]
        conn.request("GET", cold_at)
        got = conn.getresponse()
        body = json.loads(got.read())
        assert got.status == 503 and body["error"]["code"] == "unavailable", body
        assert "cold reader process ended (signal 9)" in body["error"]["message"], body
        for path in (cold_at, _URLS[10]):
            conn.request("GET", path)
            got = conn.getresponse()
            expected = hot.get(path)
            assert (got.status, got.read()) == (expected.status_code, expected.data), path
        if cold_tier.server is not None:
            cold_tier.server.kill()
        else:
            cold_tier.location.filesystem.delete_dir(cold_tier.location.root + "/trades")
        conn.request("GET", _URLS[10])
        got = conn.getresponse()
        body = json.loads(got.read())
        assert got.status == 503 and "cold tier" in body["error"]["message"], body
        conn.close()
    finally:
        services.terminate()


def _readers(api_pid: int) -> list[int]:
    """Return the cold reader processes among the descendants of *api_pid*."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # gone meanwhile
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    ours, found = {api_pid}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                found = True
    readers = []
    for pid in ours - {api_pid}:
        with contextlib.suppress(OSError):
            if b"tickvault_api.cold_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                readers.append(pid)
    return readers


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as got:
            return bool(got.status == 200)
    except OSError:
        return False
