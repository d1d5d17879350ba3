"""``tickvault import`` with a cold tier: days past the hot window go straight to Parquet, the
recent ones to PostgreSQL, and the API answers over the imported past as over live data.

Each test runs the real import (a subprocess) against a real replay exchange's archive, a real
PostgreSQL database and a cold tier in a local directory or on a real S3 server (a private
SeaweedFS), then asks the real API (the Flask app on the same database and cold tier). The
expected answers are computed here, from the replay's ``historicalTrades``, not from anything
tickvault stored.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from tests.e2e.archive.conftest import Archive, day, three_days
from tests.integration.api.loading import READ_ONLY_ROLE, as_role
from tests.private_servers.seaweedfs import PrivateSeaweedFS

from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

# 48 hours back is always two days ago: days -4 and -3 go cold, day -2 stays hot.
RETENTION_HOURS = "48"


def ms(offset: int) -> int:
    """Return the first ms of today plus *offset* days (UTC)."""
    return int(datetime.combine(day(offset), time(), UTC).timestamp()) * 1000


@dataclass
class Imported:
    """An import of days -4..-2 and an API client on what it stored."""

    archive: Archive
    api: FlaskClient
    report: dict[str, Any]
    env: dict[str, str]


def _api(a: Archive, redis_url: str, redis_prefix: str, env: dict[str, str]) -> Flask:
    """Return the API app over *a*'s database (and the cold tier and S3 variables of *env*)."""
    more: dict[str, Any] = {k: v for k, v in env.items() if k.startswith("AWS_")}
    if "TICKVAULT_COLD_URL" in env:
        more["cold_url"] = env["TICKVAULT_COLD_URL"]
    settings = ApiSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=a.database_url,
        api_database_url=as_role(a.database_url, READ_ONLY_ROLE),
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        api_cache_ttl_seconds=0,
        symbols="BTCUSDT",
        **more,
    )
    return create_app(settings)


def _cold_env(kind: str, tmp_path: Path, stack: ExitStack) -> dict[str, str]:
    """Return the import's variables of a cold tier: a local directory, a prefix on a real
    S3 server (a private SeaweedFS), or none ("hot")."""
    if kind == "hot":
        return {}
    if kind == "s3":
        server = stack.enter_context(PrivateSeaweedFS())
        url = f"s3://cold/{uuid.uuid4().hex}"
        return {"TICKVAULT_COLD_URL": url, "TICKVAULT_RETENTION_HOURS": RETENTION_HOURS} | (
            server.env()
        )
    url = f"file://{tmp_path / 'cold'}"
    return {"TICKVAULT_COLD_URL": url, "TICKVAULT_RETENTION_HOURS": RETENTION_HOURS}


@pytest.fixture(params=["cold", "s3", "hot"])
def imported(
    request: pytest.FixtureRequest,
    archive: Any,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
) -> Iterator[Imported]:
    """Import three days with a cold tier in a local directory or on S3 (two days go cold),
    or without one (all hot)."""
    with ExitStack() as stack:
        a = archive(day(-4))
        env = _cold_env(request.param, tmp_path, stack)
        status, summary, err = a.run("BTCUSDT", *three_days(), **env)
        assert status == 0, err
        (report,) = summary["symbols"]
        app = _api(a, redis_url, redis_prefix, env)
        yield Imported(a, app.test_client(), report, env)
        app.extensions["tickvault"].stores.close()


def _history(api: FlaskClient, start: int, end: int) -> list[dict[str, Any]]:
    """Return every trade of [start, end) through history's cursors."""
    url = f"/api/v1/prices/BTCUSDT/history?start={start}&end={end}&limit=1000"
    trades: list[dict[str, Any]] = []
    cursor = None
    while True:
        got = api.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert got.status_code == 200, got.data[:300]
        body = got.get_json()
        trades += body["trades"]
        cursor = body["next_cursor"]
        if cursor is None:
            return trades


def _rest(archive: Archive, low: int, high: int) -> list[dict[str, Any]]:
    """Return the replay's trades low..high from historicalTrades."""
    out: list[dict[str, Any]] = []
    while low <= high:
        page = archive.rest_trades("BTCUSDT", low)
        out += [t for t in page if t["id"] <= high]
        low = page[-1]["id"] + 1
    return out


def test_old_days_go_cold_recent_ones_hot_and_a_second_import_stores_nothing(
    imported: Imported,
) -> None:
    a, report = imported.archive, imported.report
    first, last = report["first_id"], report["last_id"]
    assert report["complete"] and report["rows"] == last - first + 1
    ((hot_rows, hot_low, hot_high, oldest),) = a.query(
        "SELECT count(*), min(trade_id), max(trade_id), min(trade_time) FROM trades"
    )
    if imported.env:
        cold = a.query("SELECT day, rows, first_id, last_id, path FROM cold_files ORDER BY day")
        assert [c[0] for c in cold] == [day(-4), day(-3)]
        assert cold[0][2] == first and cold[1][3] + 1 == hot_low and hot_high == last
        assert cold[0][3] + 1 == cold[1][2]  # the days meet
        assert sum(c[1] for c in cold) == report["cold_rows"] > 0
        assert hot_rows + report["cold_rows"] == report["rows"]
        assert oldest >= datetime.combine(day(-2), time(), UTC)
    else:
        assert report["cold_rows"] == 0 and (hot_rows, hot_low, hot_high) == (
            report["rows"],
            first,
            last,
        )

    trades = _history(imported.api, ms(-4), ms(-1))
    assert [t["trade_id"] for t in trades] == list(range(first, last + 1))
    want = {t["id"]: t for t in _rest(a, first, last)}
    for t in trades[:: max(1, len(trades) // 500)] + trades[-3:]:
        r = want[t["trade_id"]]
        assert (t["price"], t["quantity"], t["is_buyer_maker"]) == (
            r["price"],
            r["qty"],
            r["isBuyerMaker"],
        )
    stats = imported.api.get(f"/api/v1/prices/BTCUSDT/stats?start={ms(-4)}&end={ms(-1)}")
    assert stats.status_code == 200 and stats.get_json()["count"] == last - first + 1

    files_before = a.query("SELECT path FROM cold_files ORDER BY day") if imported.env else []
    status, again, err = a.run("BTCUSDT", *three_days(), **imported.env)
    assert status == 0, err
    (second,) = again["symbols"]
    assert {f["outcome"] for f in second["files"]} == {"skipped"}
    assert second["inserted"] == second["repaired"] == second["cold_rows"] == 0
    assert a.query("SELECT count(*) FROM trades") == [(hot_rows,)]
    if imported.env:
        assert a.query("SELECT path FROM cold_files ORDER BY day") == files_before


def test_candles_and_stats_over_the_imported_past_match_the_exchanges_trades(
    imported: Imported,
) -> None:
    report = imported.report
    trades = _rest(imported.archive, report["first_id"], report["last_id"])
    by_day: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in trades:  # historicalTrades serve µs here (X-MBX-TIME-UNIT)
        by_day[t["time"] // 86_400_000_000 * 86_400_000].append(t)
    got = imported.api.get(
        f"/api/v1/prices/BTCUSDT/candles?interval=1d&start={ms(-4)}&end={ms(-1)}"
    )
    assert got.status_code == 200, got.data[:300]
    candles = got.get_json()["candles"]
    assert [c["open_time_ms"] for c in candles] == sorted(by_day) == [ms(d) for d in (-4, -3, -2)]
    for c in candles:
        rows = sorted(by_day[c["open_time_ms"]], key=lambda t: (t["time"], t["id"]))
        prices = [Decimal(t["price"]) for t in rows]
        assert Decimal(c["open"]) == prices[0] and Decimal(c["close"]) == prices[-1]
        assert (Decimal(c["high"]), Decimal(c["low"])) == (max(prices), min(prices))
        assert Decimal(c["volume"]) == sum(Decimal(t["qty"]) for t in rows)
        assert c["trades"] == len(rows)

    got = imported.api.get(f"/api/v1/prices/BTCUSDT/stats?start={ms(-4)}&end={ms(-1)}")
    assert got.status_code == 200, got.data[:300]
    stats = got.get_json()
    ordered = sorted(trades, key=lambda t: (t["time"], t["id"]))
    prices = [Decimal(t["price"]) for t in ordered]
    volume = sum(Decimal(t["qty"]) for t in ordered)
    quote = sum(Decimal(t["price"]) * Decimal(t["qty"]) for t in ordered)
    assert stats["count"] == len(ordered)
    assert (Decimal(stats["min"]), Decimal(stats["max"])) == (min(prices), max(prices))
    assert (Decimal(stats["first"]), Decimal(stats["last"])) == (prices[0], prices[-1])
    tenth = Decimal("1e-10")
    assert Decimal(stats["vwap"]) == (quote / volume).quantize(tenth, ROUND_HALF_EVEN)
    mean = sum(prices) / len(prices)
    assert Decimal(stats["mean"]) == mean.quantize(tenth, ROUND_HALF_EVEN)


def test_answers_over_an_import_straight_to_s3_equal_those_over_the_same_import_kept_hot(
    archive: Any,
    new_database: Callable[[], str],
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """The same days imported twice from one replay: into a database with an S3 cold tier
    (days -4 and -3 go straight to SeaweedFS, day -2 to PostgreSQL), and into one that keeps
    them all hot; the API's answers are byte for byte the same."""
    with ExitStack() as stack:
        cold = archive(day(-4))
        hot_url = new_database()
        migrate.upgrade(hot_url, create_database=False)
        hot = Archive(cold.replay, hot_url, make_engine(hot_url))
        stack.callback(hot.engine.dispose)
        env = _cold_env("s3", tmp_path, stack)
        for a, variables in ((cold, env), (hot, {})):
            status, summary, err = a.run("BTCUSDT", *three_days(), **variables)
            assert status == 0, err
        ((report,),) = [summary["symbols"]]
        assert cold.query("SELECT count(*) FROM cold_files") == [(2,)]
        assert hot.query("SELECT count(*) FROM trades") == [(report["rows"],)]
        apps = [_api(a, redis_url, redis_prefix, e) for a, e in ((cold, env), (hot, {}))]
        for app in apps:
            stack.callback(app.extensions["tickvault"].stores.close)
        window = f"start={ms(-4)}&end={ms(-1)}"
        paths = [
            f"/api/v1/prices/BTCUSDT/history?{window}&limit=1000",
            f"/api/v1/prices/BTCUSDT/candles?interval=1h&{window}",
            f"/api/v1/prices/BTCUSDT/candles?interval=1d&{window}",
            f"/api/v1/prices/BTCUSDT/stats?{window}",
            f"/api/v1/prices/BTCUSDT/range?{window}",
            f"/api/v1/prices/BTCUSDT/stats?start={ms(-4) + 3_600_000}&end={ms(-2) + 7_200_000}",
            f"/api/v1/prices/BTCUSDT/at?time={ms(-3) + 43_200_000}",
        ]
        for path in paths:
            s3_answer, hot_answer = (app.test_client().get(path) for app in apps)
            assert s3_answer.status_code == hot_answer.status_code == 200, (path, s3_answer.data)
            assert s3_answer.data == hot_answer.data, path


def test_a_replaced_file_of_a_cold_day_is_compared_with_the_cold_tier(
    archive: Any, tmp_path: Path
) -> None:
    d = day(-3).isoformat()
    a = archive(day(-4), [{"type": "archive", "symbol": "BTCUSDT", "date": d, "fault": "replaced"}])
    env = {"TICKVAULT_COLD_URL": f"file://{tmp_path / 'cold'}", "TICKVAULT_RETENTION_HOURS": "24"}
    status, summary, err = a.run("BTCUSDT", "--from", d, "--to", d, **env)
    assert status == 0, err
    assert summary["symbols"][0]["cold_rows"] == summary["symbols"][0]["rows"] > 0
    assert a.query("SELECT count(*) FROM trades") == [(0,)]
    listed = a.query("SELECT path, rows, checksum FROM cold_files")
    status, summary, err = a.run("BTCUSDT", "--from", d, "--to", d, **env)
    assert status == 0, err
    (file_report,) = summary["symbols"][0]["files"]
    assert file_report["outcome"] == "replaced"
    assert file_report["detail"].startswith("1 rows differ"), file_report["detail"]
    assert a.query("SELECT path, rows, checksum FROM cold_files") == listed


def test_an_import_cut_off_before_it_recorded_its_files_stores_nothing_twice(
    imported: Imported,
) -> None:
    a = imported.archive
    listed = a.query("SELECT day, path, rows FROM cold_files ORDER BY day")
    hot = a.query("SELECT count(*) FROM trades")
    with a.engine.begin() as conn:  # as if killed after storing, before recording the files
        conn.execute(text("DELETE FROM archive_files"))
    status, again, err = a.run("BTCUSDT", *three_days(), **imported.env)
    assert status == 0, err
    (report,) = again["symbols"]
    assert {f["outcome"] for f in report["files"]} == {"imported"}
    assert report["inserted"] == 0 and report["cold_rows"] == sum(r[2] for r in listed)
    assert a.query("SELECT day, path, rows FROM cold_files ORDER BY day") == listed
    assert a.query("SELECT count(*) FROM trades") == hot
    assert len(a.query("SELECT period FROM archive_files")) == 3
