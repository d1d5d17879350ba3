"""Every endpoint's answer equals the value computed independently from the real recordings."""

from __future__ import annotations

import random
from typing import Any

import pytest
from flask.testing import FlaskClient
from tests.integration.api import expected as ex
from tests.integration.api.conftest import get

MINUTE = 60_000


def test_latest_is_the_last_recorded_trade(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    body = get(client, "/api/v1/prices/latest")
    assert [p["symbol"] for p in body["prices"]] == ["BTCUSDT", "ETHUSDT"]
    for price in body["prices"]:
        last = trades[price["symbol"]][-1]
        assert (price["trade_id"], price["price"], price["quantity"]) == (
            last.trade_id,
            last.price,
            last.quantity,
        )
        assert (price["trade_time"], price["trade_time_ms"]) == (ex.iso(last.ms), last.ms)
    one = get(client, "/api/v1/prices/ethusdt/latest")
    assert one["trade_id"] == trades["ETHUSDT"][-1].trade_id
    assert one["age_ms"] > 0


def _expected_before(ts: list[ex.T], second_ms: int) -> ex.T | None:
    before = [t for t in ts if t.ms < second_ms + 1000]
    return max(before, key=lambda t: (t.ms, t.trade_id)) if before else None


def test_price_at_every_second_matches_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    for symbol, ts in trades.items():
        first_second = ts[0].ms - ts[0].ms % 1000
        seen_in, seen_out = 0, 0
        for second in range(first_second - 3000, ts[-1].ms + 3000, 1000):
            want = _expected_before(ts, second)
            url = f"/api/v1/prices/{symbol}/at?time={ex.iso(second + 250)}"
            if want is None:
                body = get(client, url, 404)
                assert body["error"]["code"] == "no_data"
                continue
            body = get(client, url)
            assert (body["trade_id"], body["price"], body["trade_time_ms"]) == (
                want.trade_id,
                want.price,
                want.ms,
            )
            assert body["in_second"] == (want.ms >= second)
            assert body["requested_ms"] == second + 250
            seen_in += body["in_second"]
            seen_out += not body["in_second"]
        assert seen_in > 100 and seen_out > 0  # seconds with and without trades


def test_price_nearest_matches_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    for symbol, ts in trades.items():
        for at in range(ts[0].ms - 5000, ts[-1].ms + 5000, 997):
            want = min(
                ts, key=lambda t: (abs(t.ms - at), t.ms, -t.trade_id if t.ms <= at else t.trade_id)
            )
            body = get(client, f"/api/v1/prices/{symbol}/at?time={at}&match=nearest")
            assert (body["trade_id"], body["price"]) == (want.trade_id, want.price), at


def test_every_minute_high_low_matches_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    for symbol, ts in trades.items():
        first = ts[0].ms - ts[0].ms % MINUTE
        for minute in range(first - MINUTE, ts[-1].ms + MINUTE, MINUTE):
            label = ex.iso(minute)[:16]
            body = get(client, f"/api/v1/prices/{symbol.lower()}/range?minute={label}")
            want = ex.range_of(ex.window(ts, minute, minute + MINUTE))
            assert {k: body[k] for k in want} == want, label


WINDOWS = [
    ("2024-08-08T23:54:00Z", "2024-08-09T00:06:00Z"),
    ("2024-08-08T23:55:30.123Z", "2024-08-09T00:03:10.777Z"),
    ("2024-08-09T00:01:00Z", "2024-08-09T00:04:00Z"),
    ("2024-08-09T00:02:10.5Z", "2024-08-09T00:02:50Z"),
    ("2024-08-09T00:59:59.999+01:00", "1723161720001"),
]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_stats_over_windows_match_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]], start: str, end: str
) -> None:
    from tickvault_api.params import parse_time

    start_ms, end_ms = parse_time(start, "start") // 1000, parse_time(end, "end") // 1000
    for symbol, ts in trades.items():
        body = get(
            client, f"/api/v1/prices/{symbol}/stats?start={start}&end={end}".replace("+", "%2B")
        )
        ex.assert_stats(body, ex.stats_of(ex.window(ts, start_ms, end_ms)))
        assert body["start_ms"] == start_ms and body["end_ms"] == end_ms


def test_stats_over_everything_match_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    for symbol, ts in trades.items():
        body = get(client, f"/api/v1/prices/{symbol}/stats")
        ex.assert_stats(body, ex.stats_of(ts))
        assert body["start"] is None and body["end"] is None


def test_range_over_a_window_matches_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    for symbol, ts in trades.items():
        start, end = ts[100].ms + 1, ts[-100].ms
        body = get(client, f"/api/v1/prices/{symbol}/range?start={start}&end={end}")
        want = ex.range_of(ex.window(ts, start, end))
        assert {k: body[k] for k in want} == want


@pytest.mark.parametrize(
    ("interval", "step", "start", "end"),
    [
        ("1s", 1000, "2024-08-08T23:59:30Z", "2024-08-09T00:01:15Z"),
        ("1m", MINUTE, "2024-08-08T23:50:00Z", "2024-08-09T00:10:00Z"),
        ("5m", 5 * MINUTE, "2024-08-08T23:50:00Z", "2024-08-09T00:10:00Z"),
        ("15m", 15 * MINUTE, "2024-08-08T23:45:00Z", "2024-08-09T00:15:00Z"),
        ("1h", 60 * MINUTE, "2024-08-08T23:00:00Z", "2024-08-09T01:00:00Z"),
        ("1d", 1440 * MINUTE, "2024-08-08T00:00:00Z", "2024-08-10T00:00:00Z"),
    ],
)
def test_candles_match_the_recording(
    client: FlaskClient,
    trades: dict[str, list[ex.T]],
    interval: str,
    step: int,
    start: str,
    end: str,
) -> None:
    from tickvault_api.params import parse_time

    start_ms, end_ms = parse_time(start, "start") // 1000, parse_time(end, "end") // 1000
    for symbol, ts in trades.items():
        body = get(
            client, f"/api/v1/prices/{symbol}/candles?interval={interval}&start={start}&end={end}"
        )
        assert body["candles"] == ex.candles_of(ex.window(ts, start_ms, end_ms), step)
        assert body["interval"] == interval


@pytest.mark.parametrize("limit", [1, 7, 500])
def test_history_pages_neither_skip_nor_repeat(
    client: FlaskClient, trades: dict[str, list[ex.T]], limit: int
) -> None:
    symbol, ts = "BTCUSDT", trades["BTCUSDT"]
    start, end = (
        (ts[0].ms + 30_000, ts[0].ms + 33_000) if limit < 100 else (ts[0].ms, ts[-1].ms + 1)
    )
    got: list[dict[str, Any]] = []
    url = f"/api/v1/prices/{symbol}/history?start={start}&end={end}&limit={limit}"
    cursor = None
    while True:
        body = get(client, url + (f"&cursor={cursor}" if cursor else ""))
        assert len(body["trades"]) <= limit
        got += body["trades"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    want = ex.window(ts, start, end)
    assert [
        (t["trade_id"], t["price"], t["quantity"], t["trade_time_ms"], t["is_buyer_maker"])
        for t in got
    ] == [(t.trade_id, t.price, t.quantity, t.ms, t.maker) for t in want]


def test_history_as_csv_streams_every_trade_with_a_header(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    ts = trades["ETHUSDT"]
    start, end = ts[0].ms, ts[-1].ms + 1
    response = client.get(f"/api/v1/prices/ETHUSDT/history?start={start}&end={end}&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "trade_id,price,quantity,trade_time,trade_time_ms,is_buyer_maker"
    want = [
        f"{t.trade_id},{t.price},{t.quantity},{ex.iso(t.ms)},{t.ms},{str(t.maker).lower()}"
        for t in ts
    ]
    assert lines[1:] == want


def test_random_windows_match_the_recording(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    rng = random.Random(20240809)
    for symbol, ts in trades.items():
        lo, hi = ts[0].ms - 5_000, ts[-1].ms + 5_000
        for _ in range(25):
            start = rng.randrange(lo, hi)
            end = start + rng.choice((1, 999, 60_000, rng.randrange(1, hi - start + 2)))
            window = ex.window(ts, start, end)
            r = get(client, f"/api/v1/prices/{symbol}/range?start={start}&end={end}")
            want = ex.range_of(window)
            assert {k: r[k] for k in want} == want, (start, end)
            s = get(client, f"/api/v1/prices/{symbol}/stats?start={start}&end={end}")
            if window:
                ex.assert_stats(s, ex.stats_of(window))
            else:
                assert s["count"] == 0 and s["mean"] is None and s["median"] is None
