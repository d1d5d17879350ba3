"""Partition maintenance: retention drops whole partitions wholly older than the cut, never
DELETEs a row, creates partitions ahead, and leaves everything alone with a retention of 0."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.dialects.postgresql import insert
from tests.support.cli import run_tickvault
from tests.support.polling import wait_until

from tickvault.db import migrate, partitions
from tickvault.db.engine import make_engine
from tickvault.db.models import Candle1m, PriceLevel1m, Trade
from tickvault.db.partitions import CANDLES, LEVELS, TRADES, ensure_partitions, maintain

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NOW = datetime(2024, 8, 9, 12, 30, tzinfo=UTC)
# Rows every 20 minutes across the 6 hours before NOW, and two on an hour boundary.
TRADE_TIMES = sorted(
    [NOW - 6 * HOUR + timedelta(minutes=20 * k) for k in range(18)]
    + [
        datetime(2024, 8, 9, 9, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 8, 9, 10, 0, tzinfo=UTC),
    ]
)


@pytest.fixture
def fresh_url(new_database: Callable[[], str]) -> str:
    """A database of its own: retention must not drop partitions other tests use."""
    url = new_database()
    migrate.upgrade(url, create_database=False)
    return url


@pytest.fixture
def engine(fresh_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_url)
    yield engine
    engine.dispose()


def trade_row(trade_id: int, at: datetime) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "trade_id": trade_id,
        "price": Decimal("61837.63000000"),
        "quantity": Decimal("0.02000000"),
        "trade_time": at,
        "event_time": at,
        "is_buyer_maker": False,
        "received_at": at,
    }


def candle_row(minute: datetime) -> dict[str, Any]:
    one = Decimal("1.00000000")
    return {
        "symbol": "BTCUSDT",
        "minute": minute,
        "open": one,
        "high": one,
        "low": one,
        "close": one,
        "volume": one,
        "trades": 1,
        "quote_volume": one,
        "price_sum": one,
        "price_sq_sum": one,
        "open_time": minute,
        "open_trade_id": 1,
        "close_time": minute,
        "close_trade_id": 1,
        "high_time": minute,
        "low_time": minute,
    }


def seed(url: str, trades: list[datetime], days: list[datetime]) -> None:
    """Store one trade per time and one candle and price level per day, then disconnect."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if trades:
                ensure_partitions(conn, TRADES, trades)
                rows = [trade_row(i, at) for i, at in enumerate(trades, start=1)]
                conn.execute(insert(Trade), rows)
            if days:
                one = Decimal("1.00000000")
                ensure_partitions(conn, CANDLES, days)
                ensure_partitions(conn, LEVELS, days)
                conn.execute(insert(Candle1m), [candle_row(d) for d in days])
                levels = [
                    {"symbol": "BTCUSDT", "minute": d, "price": one, "trades": 1, "volume": one}
                    for d in days
                ]
                conn.execute(insert(PriceLevel1m), levels)
    finally:
        engine.dispose()  # ending the session flushes its statistics


def partition_names(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(partitions.existing_partitions(conn, partitions.PartitionScheme(table, HOUR)))


def trade_times(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT trade_time FROM trades ORDER BY 1")).scalars())


def minutes(engine: Engine, table: str) -> list[datetime]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT minute FROM {table} ORDER BY 1")).scalars())


def run_maintain(url: str, **kwargs: Any) -> tuple[partitions.MaintenanceReport, list[str]]:
    """Run maintenance on an engine of its own; return its report and every SQL it sent."""
    engine = make_engine(url, application_name="tickvault-maintain-test")
    sent: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        return maintain(engine, **kwargs), sent
    finally:
        engine.dispose()


def assert_no_delete(sent: list[str]) -> None:
    assert sent  # the capture really sees the maintenance connection
    assert [s for s in sent if re.match(r"\s*(DELETE|TRUNCATE)\b", s, re.IGNORECASE)] == []


def hour_names(first: datetime, count: int) -> list[str]:
    return [TRADES.name(first + HOUR * i) for i in range(count)]


@pytest.mark.parametrize(
    ("now", "first_kept"),
    [
        (NOW, datetime(2024, 8, 9, 10, tzinfo=UTC)),  # cut 10:30: 10:00–11:00 is not wholly older
        (datetime(2024, 8, 9, 12, tzinfo=UTC), datetime(2024, 8, 9, 10, tzinfo=UTC)),  # cut 10:00
        (
            datetime(2024, 8, 9, 12, 59, 59, 999_999, tzinfo=UTC),
            datetime(2024, 8, 9, 10, tzinfo=UTC),
        ),
        (datetime(2024, 8, 9, 13, tzinfo=UTC), datetime(2024, 8, 9, 11, tzinfo=UTC)),  # cut 11:00
    ],
)
def test_retention_of_2_hours_keeps_exactly_the_partitions_not_wholly_older_than_the_cut(
    fresh_url: str, engine: Engine, now: datetime, first_kept: datetime
) -> None:
    seed(fresh_url, TRADE_TIMES, [])
    assert partition_names(engine, "trades") == hour_names(datetime(2024, 8, 9, 6, tzinfo=UTC), 7)

    report, sent = run_maintain(
        fresh_url, retention_hours=2, candle_retention_days=30, now=now, hours_ahead=3
    )

    current = TRADES.floor(now)
    first_seeded = datetime(2024, 8, 9, 6, tzinfo=UTC)
    assert report.dropped == hour_names(first_seeded, int((first_kept - first_seeded) / HOUR))
    kept_hours = int((current - first_kept) / HOUR) + 4  # up to now, and 3 hours ahead
    assert partition_names(engine, "trades") == hour_names(first_kept, kept_hours)
    assert trade_times(engine) == [t for t in TRADE_TIMES if t >= first_kept]
    assert_no_delete(sent)


def test_maintenance_never_deletes_rows(fresh_url: str, engine: Engine) -> None:
    seed(fresh_url, TRADE_TIMES, [])
    _, sent = run_maintain(fresh_url, retention_hours=2, candle_retention_days=30, now=NOW)
    assert_no_delete(sent)
    assert [s for s in sent if "DETACH PARTITION" in s] == [
        f'ALTER TABLE "trades" DETACH PARTITION "{name}"'
        for name in hour_names(datetime(2024, 8, 9, 6, tzinfo=UTC), 4)
    ]
    # The server agrees: the surviving partitions saw their inserts and not one delete.
    survivors = {"trades_p2024080910": 4, "trades_p2024080911": 3, "trades_p2024080912": 1}

    def partition_stats() -> dict[str, tuple[int, int]]:
        with engine.connect() as conn:
            return {
                name: (ins, dele)
                for name, ins, dele in conn.execute(
                    text(
                        "SELECT relname, n_tup_ins, n_tup_del FROM pg_stat_user_tables"
                        " WHERE relname LIKE 'trades_p%'"
                    )
                )
            }

    stats = wait_until(
        partition_stats,
        20,
        f"the statistics to count the survivors' inserts {survivors}",
        0.2,
        until=lambda got: {name: got.get(name, (0, 0))[0] for name in survivors} == survivors,
    )
    assert {name: dele for name, (_, dele) in stats.items()} == dict.fromkeys(stats, 0)


def test_partitions_are_created_ahead_and_a_second_pass_does_nothing(
    fresh_url: str, engine: Engine
) -> None:
    report, _ = run_maintain(fresh_url, retention_hours=24, candle_retention_days=30, now=NOW)
    assert report.created == [
        *hour_names(datetime(2024, 8, 9, 12, tzinfo=UTC), 4),
        "candles_1m_p20240809",
        "candles_1m_p20240810",
        "price_levels_1m_p20240809",
        "price_levels_1m_p20240810",
    ]
    assert report.dropped == []
    again, _ = run_maintain(fresh_url, retention_hours=24, candle_retention_days=30, now=NOW)
    assert (again.created, again.dropped) == ([], [])


def test_candles_and_levels_are_dropped_by_their_own_day_retention(
    fresh_url: str, engine: Engine
) -> None:
    days = [datetime(2024, 8, 9, tzinfo=UTC) - timedelta(days=d) for d in range(40, -1, -1)]
    seed(fresh_url, TRADE_TIMES, days)

    report, sent = run_maintain(fresh_url, retention_hours=2, candle_retention_days=30, now=NOW)

    # Cut 2024-07-10T12:30: days up to 2024-07-09 ended before it; 2024-07-10 did not.
    first_kept = datetime(2024, 7, 10, tzinfo=UTC)
    expired = [d for d in days if d < first_kept]
    assert (expired[0], expired[-1]) == (datetime(2024, 6, 30, tzinfo=UTC), first_kept - DAY)
    assert [n for n in report.dropped if n.startswith("candles")] == [
        CANDLES.name(d) for d in expired
    ]
    assert [n for n in report.dropped if n.startswith("price_levels")] == [
        LEVELS.name(d) for d in expired
    ]
    kept = [d for d in days if d >= first_kept] + [datetime(2024, 8, 10, tzinfo=UTC)]
    assert partition_names(engine, "candles_1m") == [CANDLES.name(d) for d in kept]
    assert partition_names(engine, "price_levels_1m") == [LEVELS.name(d) for d in kept]
    assert minutes(engine, "candles_1m") == [d for d in days if d >= first_kept]
    assert minutes(engine, "price_levels_1m") == [d for d in days if d >= first_kept]
    # Raw trades follow their own (hourly) retention in the same pass.
    assert trade_times(engine) == [
        t for t in TRADE_TIMES if t >= datetime(2024, 8, 9, 10, tzinfo=UTC)
    ]
    assert_no_delete(sent)


def test_retention_0_keeps_everything(fresh_url: str, engine: Engine) -> None:
    days = [datetime(2024, 8, 9, tzinfo=UTC) - timedelta(days=d) for d in range(400, -1, -50)]
    seed(fresh_url, [datetime(2019, 1, 1, tzinfo=UTC), *TRADE_TIMES], days)
    before = (
        trade_times(engine),
        minutes(engine, "candles_1m"),
        minutes(engine, "price_levels_1m"),
    )

    report, _ = run_maintain(fresh_url, retention_hours=0, candle_retention_days=0, now=NOW)

    assert report.dropped == []
    assert "trades_p2019010100" in partition_names(engine, "trades")
    assert (
        trade_times(engine),
        minutes(engine, "candles_1m"),
        minutes(engine, "price_levels_1m"),
    ) == before
    assert len(before[0]) == len(TRADE_TIMES) + 1


def test_a_locked_table_is_left_for_the_next_pass(
    fresh_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(fresh_url, TRADE_TIMES, [])
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM trades"))  # holds ACCESS SHARE until rollback
        with caplog.at_level(logging.WARNING, logger="tickvault.db.partitions"):
            report, _ = run_maintain(
                fresh_url, retention_hours=2, candle_retention_days=30, now=NOW
            )
        assert report.dropped == []
        assert "skipped" in caplog.text
        reader.rollback()
    report, _ = run_maintain(fresh_url, retention_hours=2, candle_retention_days=30, now=NOW)
    assert report.dropped == hour_names(datetime(2024, 8, 9, 6, tzinfo=UTC), 4)
    assert trade_times(engine) == [
        t for t in TRADE_TIMES if t >= datetime(2024, 8, 9, 10, tzinfo=UTC)
    ]


def test_db_maintain_command_applies_the_configured_retention(
    fresh_url: str, engine: Engine, tmp_path: Path
) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    seed(fresh_url, [old], [old])
    env = {"TICKVAULT_DATABASE_URL": fresh_url, "TICKVAULT_RETENTION_HOURS": "2"}
    started = datetime.now(UTC)
    done = run_tickvault("db", "maintain", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "trades_p2020010100" in done.stderr
    assert "candles_1m_p20200101" in done.stderr
    trades = partition_names(engine, "trades")
    assert "trades_p2020010100" not in trades
    # Whatever hour it became meanwhile, the partition 3 hours past the start exists.
    assert TRADES.name(TRADES.floor(started) + 3 * HOUR) in trades
    candles = partition_names(engine, "candles_1m")
    assert "candles_1m_p20200101" not in candles
    assert CANDLES.name(CANDLES.floor(started) + DAY) in candles
    assert trade_times(engine) == []
