"""``tickvault import`` against the replay exchange's archive: exact, complete, resumable.

Each test runs the real import (a subprocess of ``tickvault import``) against a real replay
exchange serving the archive and a real PostgreSQL database of its own.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.e2e.archive.conftest import Archive, day, three_days
from tests.private_servers import free_port
from tests.support.polling import wait_until

LAST_QTY = "SELECT trade_id, quantity::text FROM trades ORDER BY trade_id DESC LIMIT 1"


def _contiguous(archive: Archive, symbol: str = "BTCUSDT") -> tuple[int, int, int]:
    """Return (count, min, max) of the stored ids, asserting one row per id."""
    ((count, low, high, distinct),) = archive.query(
        "SELECT count(*), min(trade_id), max(trade_id), count(DISTINCT trade_id) FROM trades"
        " WHERE symbol = :s",
        s=symbol,
    )
    assert count == distinct
    return count, low, high


def _matches_rest(archive: Archive, low: int, high: int, symbol: str = "BTCUSDT") -> None:
    """Assert the stored trades low..high are exactly what historicalTrades serves."""
    stored = {
        r[0]: r[1:]
        for r in archive.query(
            "SELECT trade_id, price::text, quantity::text,"
            " (extract(epoch FROM trade_time) * 1000000)::bigint, is_buyer_maker FROM trades"
            " WHERE symbol = :s AND trade_id BETWEEN :a AND :b",
            s=symbol,
            a=low,
            b=high,
        )
    }
    at = low
    while at <= high:
        page = archive.rest_trades(symbol, at)
        for row in page:
            if row["id"] > high:
                break
            assert stored[row["id"]] == (row["price"], row["qty"], row["time"], row["isBuyerMaker"])
        at = page[-1]["id"] + 1


def _gaps(archive: Archive) -> list[tuple[Any, ...]]:
    return archive.query(
        "SELECT first_id, last_id, status, reason FROM trade_gaps ORDER BY first_id"
    )


def test_a_clean_archive_is_stored_exactly_once_and_a_second_run_skips_it(archive: Any) -> None:
    a = archive(day(-4))
    status, summary, err = a.run(
        "BTCUSDT", "--from", day(-4).isoformat(), "--to", day(-2).isoformat()
    )
    assert status == 0, err
    (report,) = summary["symbols"]
    assert report["complete"] and report["holes"] == []
    count, low, high = _contiguous(a)
    assert (low, high) == (report["first_id"], report["last_id"])
    assert count == high - low + 1 == report["rows"]
    _matches_rest(a, low, low + 2500)
    files = a.query("SELECT period, rows, first_id, last_id FROM archive_files ORDER BY period")
    assert [f[0] for f in files] == [day(d).isoformat() for d in (-4, -3, -2)]
    assert files[0][2] == low and files[-1][3] == high and sum(f[1] for f in files) == count

    started = time.monotonic()
    status, again, err = a.run(
        "BTCUSDT", "--from", day(-4).isoformat(), "--to", day(-2).isoformat()
    )
    assert status == 0, err
    assert {f["outcome"] for f in again["symbols"][0]["files"]} == {"skipped"}
    assert again["symbols"][0]["inserted"] == 0
    assert _contiguous(a) == (count, low, high)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("fault", "holes"),
    [
        ("missing", 1),
        ("truncated", 1),
        ("bad_checksum", 1),
        ("id_hole", 1),
        ("header", 0),
        ("http_error", 0),
    ],
)
def test_each_archive_fault_is_repaired_exactly(archive: Any, fault: str, holes: int) -> None:
    broken = day(-3).isoformat()
    a = archive(day(-4), [{"type": "archive", "symbol": "BTCUSDT", "date": broken, "fault": fault}])
    status, summary, err = a.run(
        "BTCUSDT", "--from", day(-4).isoformat(), "--to", day(-2).isoformat()
    )
    assert status == 0, err
    (report,) = summary["symbols"]
    count, low, high = _contiguous(a)
    assert (low, high) == (report["first_id"], report["last_id"])
    assert count == high - low + 1
    gaps = _gaps(a)
    assert len(gaps) == holes
    assert all(g[2:] == ("filled", "archive") for g in gaps)
    _matches_rest(a, low, high)  # every stored trade, from the files and the repairs alike
    assert report["repaired"] == sum(g[1] - g[0] + 1 for g in gaps)
    outcome = {f["period"]: f for f in report["files"]}[broken]
    if fault == "header":
        assert outcome["header"] is True and outcome["refused"] == 0
    if fault in ("missing", "bad_checksum"):
        assert outcome["outcome"] == fault


def test_a_replaced_file_is_compared_once_recorded_and_never_overwritten(archive: Any) -> None:
    d = day(-2).isoformat()
    a = archive(day(-3), [{"type": "archive", "symbol": "BTCUSDT", "date": d, "fault": "replaced"}])
    assert a.run("BTCUSDT", "--from", d, "--to", d)[0] == 0
    before = a.query(LAST_QTY)
    ((imported_sha,),) = a.query("SELECT sha256 FROM archive_files")
    status, summary, err = a.run("BTCUSDT", "--from", d, "--to", d)
    assert status == 0, err
    (file_report,) = summary["symbols"][0]["files"]
    assert file_report["outcome"] == "replaced"
    assert file_report["detail"].startswith("1 rows differ")
    assert a.query(LAST_QTY) == before
    ((sha, replaced, differences, detail, compared),) = a.query(
        "SELECT sha256, replaced_sha256, replaced_differences, replaced_detail, compared_at"
        " FROM archive_files"
    )
    assert sha == imported_sha and replaced not in (None, imported_sha)
    assert differences == 1 and detail == file_report["detail"] and compared is not None

    status, summary, err = a.run("BTCUSDT", "--from", d, "--to", d)  # said once, not again
    assert status == 0, err
    (again,) = summary["symbols"][0]["files"]
    assert again["outcome"] == "already_compared"
    assert f"replaced file {replaced[:12]}… already compared on " in again["detail"]
    assert again["detail"].endswith(detail)
    assert a.query(LAST_QTY) == before
    assert a.query("SELECT compared_at FROM archive_files") == [(compared,)]


def test_a_delisted_symbol_imports_from_the_archive_and_reports_what_rest_cannot_repair(
    archive: Any,
) -> None:
    d = day(-2).isoformat()
    a = archive(
        day(-3),
        [{"type": "archive", "symbol": "ETHUSDT", "date": d, "fault": "id_hole"}],
        symbols="BTCUSDT,ETHUSDT",
    )
    a.replay.delist("ETHUSDT")
    status, summary, err = a.run("ETHUSDT", "--from", day(-3).isoformat(), "--to", d)
    assert status == 1
    (report,) = summary["symbols"]
    assert report["listed"] is False
    assert [h["status"] for h in report["holes"]] == ["unfillable"]
    assert "not repaired: ETHUSDT" in err
    assert [g[2:] for g in _gaps(a)] == [("unfillable", "archive")]


def test_no_file_before_the_symbols_listing_month_is_asked_for(archive: Any) -> None:
    """The whole market imported from 2017 must not ask for years of files of a symbol listed
    later: its first trade on REST says the month it was listed."""
    a = archive(day(-3))  # the replay's symbol trades from day -3 on
    since = (day(-3) - timedelta(days=70)).isoformat()
    status, summary, err = a.run("BTCUSDT", "--from", since, "--to", day(-2).isoformat())
    assert status == 0, err
    (report,) = summary["symbols"]
    listed_month = day(-3).strftime("%Y-%m")
    assert all(f["period"] >= listed_month for f in report["files"]), report["files"]
    assert report["first_id"] == a.rest_trades("BTCUSDT", 0)[0]["id"] and report["holes"] == []
    count, low, high = _contiguous(a)
    assert (count, low, high) == (high - low + 1, report["first_id"], report["last_id"])
    assert sum(f["rows"] for f in report["files"]) == count


def test_the_2025_switch_from_milliseconds_to_microseconds(archive: Any) -> None:
    a = archive(datetime(2024, 12, 30, tzinfo=UTC).date())
    status, summary, err = a.run("BTCUSDT", "--from", "2024-12-31", "--to", "2025-01-01")
    assert status == 0, err
    files = {f["period"]: f for f in summary["symbols"][0]["files"]}
    assert files["2024-12-31"]["micros"] is False and files["2025-01-01"]["micros"] is True
    ((whole_ms, sub_ms),) = a.query(
        "SELECT count(*) FILTER (WHERE trade_time < '2025-01-01' AND"
        "  extract(microseconds FROM trade_time)::bigint % 1000 = 0),"
        " count(*) FILTER (WHERE trade_time >= '2025-01-01' AND"
        "  extract(microseconds FROM trade_time)::bigint % 1000 <> 0) FROM trades"
    )
    count, low, high = _contiguous(a)
    assert count == high - low + 1
    day_one = a.query("SELECT count(*) FROM trades WHERE trade_time < '2025-01-01'")[0][0]
    assert whole_ms == day_one and sub_ms > (count - day_one) * 0.9
    _matches_rest(a, high - 1500, high)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_import_resumes_and_counts_nothing_twice(
    archive: Any, stop: signal.Signals
) -> None:
    a = archive(day(-4), rate="1")
    args = ("BTCUSDT", "--from", day(-4).isoformat(), "--to", day(-2).isoformat())
    proc = a.start(*args)
    wait_until(lambda: a.query("SELECT 1 FROM archive_files"), 120, "a file imported", 0.2)
    proc.send_signal(stop)
    proc.communicate(timeout=60)
    if stop is signal.SIGINT:
        assert proc.returncode == 130  # Ctrl-C: the chunk in flight committed, then out
    done = a.query("SELECT count(*) FROM archive_files")[0][0]
    assert 1 <= done < 3
    status, summary, err = a.run(*args, timeout=300)
    assert status == 0, err
    outcomes = [f["outcome"] for f in summary["symbols"][0]["files"]]
    assert outcomes.count("skipped") == done
    count, low, high = _contiguous(a)
    assert (
        count
        == high - low + 1
        == summary["symbols"][0]["last_id"] - summary["symbols"][0]["first_id"] + 1
    )


def test_an_import_killed_while_repairing_resumes_the_repair(archive: Any) -> None:
    """Killed while its repair waits for the REST budget (150 weight a minute), the import
    leaves its hole ``detected``; the next run repairs it, storing nothing twice."""
    a = archive(
        day(-4),
        [{"type": "archive", "symbol": "BTCUSDT", "date": day(-3).isoformat(), "fault": "missing"}],
        rate="0.15",  # 13 pages to repair: more than a minute's budget
    )
    proc = a.start(
        "BTCUSDT",
        *three_days(),
        TICKVAULT_COLLECTOR_REST_WEIGHT_LIMIT="250",
        TICKVAULT_COLLECTOR_REST_WEIGHT_SHARE="1",
    )
    try:
        wait_until(lambda: _gaps(a), 60, "the hole recorded", 0.1)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    ((first, last, status, _),) = _gaps(a)
    assert status == "detected"
    assert len(a.query("SELECT 1 FROM archive_files")) == 2  # both files done, the hole not
    status, summary, err = a.run("BTCUSDT", *three_days())
    assert status == 0, err
    (report,) = summary["symbols"]
    assert [f["outcome"] for f in report["files"]] == ["skipped", "missing", "skipped"]
    assert [(h["first_id"], h["last_id"], h["status"]) for h in report["holes"]] == [
        (first, last, "filled")
    ]
    assert _gaps(a) == [(first, last, "filled", "archive")]
    count, low, high = _contiguous(a)
    assert count == high - low + 1 == report["last_id"] - report["first_id"] + 1
    _matches_rest(a, first, last)


def test_repairs_wait_out_429_from_rest_and_still_complete(archive: Any) -> None:
    broken = day(-3).isoformat()
    a = archive(
        day(-4),
        [
            {"type": "archive", "symbol": "BTCUSDT", "date": broken, "fault": "missing"},
            {
                "type": "rest_error",
                "status": 429,
                "count": 2,
                "retry_after": 1,
                "path": "/api/v3/historicalTrades",
            },
        ],
    )
    status, summary, err = a.run("BTCUSDT", *three_days())
    assert status == 0, err
    count, low, high = _contiguous(a)
    assert count == high - low + 1
    assert summary["symbols"][0]["repaired"] > 4000
    assert a.replay.rest_report()["statuses"]["429"] == 2


def _scrape(port: int) -> dict[str, float]:
    """Return the import's metrics (name with labels -> value), {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("tickvault_"))
    return {name: float(value) for name, value in pairs}


@pytest.mark.timeout(300)  # two or three calendar minutes of budget
def test_repairs_keep_to_the_rest_budget_show_their_backlog_and_wait_out_418(
    archive: Any,
) -> None:
    """A budget of 150 weight a minute (250 x share 1 x the archive's 0.6): six pages a minute,
    so the bounds and the repair of a missing day (about 18 pages) wait for the minute to turn
    at least twice, the backlog showing; a 418 then holds them for Retry-After, and the import
    still completes exactly."""
    a = archive(
        day(-4),
        [{"type": "archive", "symbol": "BTCUSDT", "date": day(-3).isoformat(), "fault": "missing"}],
        limits=True,
        rate="0.15",  # 12,960 trades a day: 13 pages
    )
    port = free_port()
    proc = a.start(
        "BTCUSDT",
        *three_days(),
        "--json",
        TICKVAULT_IMPORT_METRICS_PORT=str(port),
        TICKVAULT_COLLECTOR_REST_WEIGHT_LIMIT="250",
        TICKVAULT_COLLECTOR_REST_WEIGHT_SHARE="1",
    )
    try:
        queued = wait_until(
            lambda: _scrape(port).get("tickvault_import_repair_calls_queued"),
            100,
            "the repair's backlog while it waits for the budget",
            0.2,
        )
        assert 1 <= queued <= 13
        a.replay.post_faults(
            [
                {
                    "type": "rest_error",
                    "status": 418,
                    "count": 2,
                    "retry_after": 1,
                    "path": "/api/v3/historicalTrades",
                }
            ]
        )
        out, err = proc.communicate(timeout=200)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    (report,) = json.loads(out)["symbols"]
    ((first, last, status, _),) = _gaps(a)
    assert report["complete"] and status == "filled"
    assert report["repair_calls_planned"] == -(-(last - first + 1) // 1000) >= 12
    count, low, high = _contiguous(a)
    assert count == high - low + 1 == report["last_id"] - report["first_id"] + 1
    rest = a.replay.rest_report()
    assert rest["statuses"]["418"] == 2
    assert 0 < rest["weight"]["peak"] <= 150  # never past its share in any minute


def test_a_whole_past_month_comes_as_one_monthly_file_or_as_its_days(archive: Any) -> None:
    last_month_end = day(0).replace(day=1) - timedelta(days=1)
    first = last_month_end.replace(day=1)
    month = first.strftime("%Y-%m")
    span = ("--from", first.isoformat(), "--to", last_month_end.isoformat())
    a = archive(first, rate="0.01")
    status, summary, err = a.run("BTCUSDT", *span)
    assert status == 0, err
    assert [(f["period"], f["outcome"]) for f in summary["symbols"][0]["files"]] == [
        (month, "imported")
    ]
    count, low, high = _contiguous(a)
    assert count == high - low + 1

    b = archive(
        first,
        [{"type": "archive", "symbol": "BTCUSDT", "month": month, "fault": "missing"}],
        rate="0.01",
    )
    status, summary, err = b.run("BTCUSDT", *span)
    assert status == 0, err
    periods = [f["period"] for f in summary["symbols"][0]["files"]]
    assert periods == [(first + timedelta(days=i)).isoformat() for i in range(last_month_end.day)]
    assert _contiguous(b) == (count, low, high)
