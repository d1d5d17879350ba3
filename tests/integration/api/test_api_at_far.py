"""``at`` far from any trade: the widening look-back (1 h, 1 day, everything) misses nothing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from tests.integration.api import expected as ex
from tests.integration.api.conftest import get

HOUR = 3_600_000
DAY = 24 * HOUR


def last_of(ts: list[ex.T]) -> ex.T:
    return max(ts, key=lambda t: (t.ms, t.trade_id))


def first_of(ts: list[ex.T]) -> ex.T:
    return min(ts, key=lambda t: (t.ms, t.trade_id))


@pytest.mark.parametrize("after_last_ms", [5 * HOUR, 3 * DAY, 400 * DAY])
def test_price_at_long_after_the_last_trade_is_the_last_trade(
    client: FlaskClient, trades: dict[str, list[ex.T]], after_last_ms: int
) -> None:
    for symbol, ts in trades.items():
        last = last_of(ts)
        body = get(client, f"/api/v1/prices/{symbol}/at?time={last.ms + after_last_ms}")
        assert (body["trade_id"], body["price"], body["in_second"]) == (
            last.trade_id,
            last.price,
            False,
        )
        near = get(
            client, f"/api/v1/prices/{symbol}/at?time={last.ms + after_last_ms}&match=nearest"
        )
        assert near["trade_id"] == last.trade_id


@pytest.mark.parametrize("before_first_ms", [5 * HOUR, 3 * DAY, 400 * DAY])
def test_nearest_long_before_the_first_trade_is_the_first_trade(
    client: FlaskClient, trades: dict[str, list[ex.T]], before_first_ms: int
) -> None:
    for symbol, ts in trades.items():
        first = first_of(ts)
        at = first.ms - before_first_ms
        body = get(client, f"/api/v1/prices/{symbol}/at?time={at}&match=nearest")
        assert (body["trade_id"], body["price"]) == (first.trade_id, first.price)
        assert get(client, f"/api/v1/prices/{symbol}/at?time={at}", 404)["error"]["code"] == (
            "no_data"
        )


def test_times_at_the_edges_of_the_accepted_span_get_exact_answers(
    client: FlaskClient, trades: dict[str, list[ex.T]]
) -> None:
    first, last = first_of(trades["BTCUSDT"]), last_of(trades["BTCUSDT"])
    url = "/api/v1/prices/BTCUSDT/at?time="
    for late in ("2099-12-31T23:59:59Z", "2099-12-31T23:59:59Z&match=nearest"):
        assert get(client, url + late)["trade_id"] == last.trade_id
    early = "2009-01-01T00:00:00Z"
    assert get(client, url + early, 404)["error"]["code"] == "no_data"
    assert get(client, url + early + "&match=nearest")["trade_id"] == first.trade_id
    # A time outside the span is taken as its nearest edge (as Binance clamps its times).
    late_body = get(client, url + "9999-12-31T23:59:59Z")
    assert (late_body["trade_id"], late_body["requested"]) == (
        last.trade_id,
        "2100-01-01T00:00:00.000Z",
    )
    for outside in ("1970-01-01T00:00:00Z", "0", "-86400000"):
        assert get(client, url + outside, 404)["error"]["code"] == "no_data"
        assert get(client, url + outside + "&match=nearest")["trade_id"] == first.trade_id
