"""``range`` and ``stats`` over many cold days answer whole files from ``cold_files``' aggregates.

Six days of trades: the real recordings, which cross midnight, and copies of them moved to the
middle of each of the four days before, their prices shifted (so a median lies in some days'
price ranges and not in others); five of the days are cold. The answers with no window and with
wide ones must be byte-identical to an all-hot deployment; files wholly inside the window must
not be read (only those at its edges, those of a day the hot tier holds late trades of, and
those whose prices meet the median's band); and files listed before migration 0006 (no
aggregates) must answer the same by being read, until ``move_expired`` (``tickvault cold
move``) records their aggregates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from tests.integration.api.loading import store_ticks, to_tick
from tests.integration.cold.conftest import MIDNIGHT, ColdTier, api_app
from tests.support.db import rows
from tests.support.recordings import RecordedTrade

from tickvault.cold import move, storage, store
from tickvault.db import migrate
from tickvault.db.engine import make_engine

MS = int(MIDNIGHT.timestamp() * 1000)
DAY_MS = 86_400_000
# price shift of the copy k days back: far below, far above, close, close
SHIFTS = {1: Decimal(-800), 2: Decimal(900), 3: Decimal(-3), 4: Decimal("1.5")}
HALF_DAY_MS = DAY_MS // 2
LATE_DAY = MIDNIGHT - timedelta(days=4)  # the cold day the hot tier gets late trades of
_URLS = [
    *(f"/api/v1/prices/{s}/{q}" for s in ("BTCUSDT", "ETHUSDT") for q in ("range", "stats")),
    *(
        f"/api/v1/prices/BTCUSDT/{q}?start={MS - d * DAY_MS}&end={MS + e}"
        for q in ("range", "stats")
        for d, e in ((6, 60_000), (4, 0), (3, 1), (2, -1))
    ),
    f"/api/v1/prices/ETHUSDT/stats?start={MS - 5 * DAY_MS + 123}&end={MS - HALF_DAY_MS}",
    # windows starting and ending inside the copies (the middle of a day)
    *(
        f"/api/v1/prices/BTCUSDT/{q}?start={MS - 3 * DAY_MS + HALF_DAY_MS}"
        f"&end={MS - 2 * DAY_MS + HALF_DAY_MS + 1000}"
        for q in ("range", "stats")
    ),
    f"/api/v1/prices/ETHUSDT/range?start={MS - 4 * DAY_MS - 7}",
    f"/api/v1/prices/BTCUSDT/stats?end={MS - 2 * DAY_MS}",
]


def _copy(t: RecordedTrade, days: int) -> RecordedTrade:
    """Return *t* moved to the middle of the day *days* before, with its own trade id and a
    shifted price."""
    price = Decimal(t.price) + SHIFTS[days] * (1 if t.symbol == "BTCUSDT" else Decimal("0.1"))
    back = days * DAY_MS + HALF_DAY_MS
    return replace(
        t,
        trade_id=t.trade_id - days * 1_000_000,
        trade_time_ms=t.trade_time_ms - back,
        event_time_ms=t.event_time_ms - back,
        price=format(price, "f"),
    )


@pytest.fixture
def days_of_trades(recorded: dict[str, list[RecordedTrade]]) -> list[RecordedTrade]:
    """The recordings and four copies of them, in the middle of the four days before."""
    out = [t for trades in recorded.values() for t in trades]
    return out + [_copy(t, k) for k in SHIFTS for trades in recorded.values() for t in trades]


def _late(trades: list[RecordedTrade]) -> list[RecordedTrade]:
    """A redelivered trade of a cold day and a new one of the same day (an id no copy has)."""
    start = int(LATE_DAY.timestamp() * 1000)
    day = [t for t in trades if t.symbol == "BTCUSDT" and start <= t.trade_time_ms < start + DAY_MS]
    again = day[7]
    return [again, replace(again, trade_id=again.trade_id + 500_000, price="1.00000000")]


@pytest.fixture
def hot_and_cold(
    new_database: Callable[[], str],
    days_of_trades: list[RecordedTrade],
    cold_tier: ColdTier,
    redis_url: str,
    redis_prefix: str,
) -> Iterator[tuple[FlaskClient, FlaskClient, Engine]]:
    """Clients of an all-hot deployment and of one whose first five days are cold (one of
    them with late trades waiting in the hot tier), and the latter's engine."""
    hot_url, cold_url = new_database(), new_database()
    ticks = [to_tick(t) for t in days_of_trades]
    for url in (hot_url, cold_url):
        migrate.upgrade(url, create_database=False)
        store_ticks(url, ticks)
    engine = make_engine(cold_url, application_name="tickvault-cold-tests")
    assert len(move.move_expired(engine, cold_tier.location, MIDNIGHT).days) == 5
    late = [to_tick(t) for t in _late(days_of_trades)]
    for url in (hot_url, cold_url):
        store_ticks(url, late)
    hot_app = api_app(hot_url, redis_url, redis_prefix)
    cold_app = api_app(cold_url, redis_url, redis_prefix, cold_url=cold_tier.url, **cold_tier.aws)
    yield hot_app.test_client(), cold_app.test_client(), engine
    for app in (hot_app, cold_app):
        app.extensions["tickvault"].stores.close()
    engine.dispose()


def _same_answers(hot: FlaskClient, cold: FlaskClient) -> None:
    for url in _URLS:
        h, c = hot.get(url), cold.get(url)
        assert (c.status_code, c.data) == (h.status_code, h.data), url
        assert h.status_code == 200, (url, h.data[:200])


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The cold files read whole (trades) and by their price column, by path."""
    seen: dict[str, list[str]] = {"trades": [], "prices": []}
    read_file, read_column = storage.read_file, storage.read_column

    def counted_file(location: Any, relative: str, *args: Any) -> Any:
        seen["trades"].append(relative)
        return read_file(location, relative, *args)

    def counted_column(location: Any, relative: str, column: str) -> Any:
        seen["prices" if column == "price" else column].append(relative)
        return read_column(location, relative, column)

    monkeypatch.setattr(storage, "read_file", counted_file)
    monkeypatch.setattr(storage, "read_column", counted_column)
    return seen


def _paths(engine: Engine, symbol: str) -> dict[str, str]:
    listed = rows(engine, "SELECT day, path FROM cold_files WHERE symbol = :s", s=symbol)
    return {day.isoformat(): path for day, path in listed}


def test_range_and_stats_over_many_cold_days_equal_hot_and_read_only_what_they_must(
    hot_and_cold: tuple[FlaskClient, FlaskClient, Engine], reads: dict[str, list[str]]
) -> None:
    hot, cold, engine = hot_and_cold
    _same_answers(hot, cold)
    btc = _paths(engine, "BTCUSDT")
    reads["trades"].clear()
    reads["prices"].clear()
    assert cold.get("/api/v1/prices/BTCUSDT/range").status_code == 200
    # only the day whose late trades wait in the hot tier is read; the four others are not
    assert reads["trades"] == [btc[LATE_DAY.date().isoformat()]]
    assert reads["prices"] == []
    assert cold.get("/api/v1/prices/BTCUSDT/stats").status_code == 200
    # the median reads the price column of the days whose range meets its band, not the
    # days shifted far below and far above it
    far = {btc[(MIDNIGHT - timedelta(days=k + 1)).date().isoformat()] for k in (1, 2)}
    assert reads["prices"] and not far & set(reads["prices"])
    assert set(reads["prices"]) < set(btc.values())


def test_files_listed_before_the_aggregates_answer_the_same_until_a_move_records_them(
    hot_and_cold: tuple[FlaskClient, FlaskClient, Engine],
    cold_tier: ColdTier,
    reads: dict[str, list[str]],
) -> None:
    hot, cold, engine = hot_and_cold
    recorded_at_write = rows(engine, "SELECT * FROM cold_files ORDER BY symbol, day")
    with engine.begin() as conn:  # as listed by a version before migration 0006
        conn.execute(
            text(
                "UPDATE cold_files SET price_sum = NULL, price_sq_sum = NULL, volume = NULL, "
                "quote_volume = NULL, first_price = NULL, last_price = NULL, high = NULL, "
                "high_time = NULL, low = NULL, low_time = NULL"
            )
        )
    reads["trades"].clear()
    _same_answers(hot, cold)
    assert len(set(reads["trades"])) == 10  # every cold file of both symbols, read
    report = move.move_expired(engine, cold_tier.location, MIDNIGHT)
    # the late day is merged and rewritten with its aggregates; the 9 others are filled in
    assert report.aggregated == 9 and report.days == [LATE_DAY.date()]
    # the others got the very same values their write recorded
    filled = rows(engine, "SELECT * FROM cold_files ORDER BY symbol, day")
    late_day = LATE_DAY.date()
    assert [r for r in filled if r[1] != late_day] == [
        r for r in recorded_at_write if r[1] != late_day
    ]
    assert not rows(engine, "SELECT path FROM cold_files WHERE price_sum IS NULL")
    assert move.move_expired(engine, cold_tier.location, MIDNIGHT).aggregated == 0
    reads["trades"].clear()
    _same_answers(hot, cold)
    assert len(set(reads["trades"])) < 10


def test_a_file_that_cannot_be_read_keeps_no_aggregates_and_the_others_are_filled(
    hot_and_cold: tuple[FlaskClient, FlaskClient, Engine], cold_tier: ColdTier
) -> None:
    _, _, engine = hot_and_cold
    with engine.begin() as conn:
        conn.execute(text("UPDATE cold_files SET price_sum = NULL"))
    gone = _paths(engine, "ETHUSDT")[(MIDNIGHT - timedelta(days=1)).date().isoformat()]
    cold_tier.location.filesystem.delete_file(cold_tier.location.absolute(gone))
    assert store.fill_aggregates(engine, cold_tier.location) == 9
    assert rows(engine, "SELECT path FROM cold_files WHERE price_sum IS NULL") == [(gone,)]
