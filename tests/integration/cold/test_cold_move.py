"""Moving days to the cold tier: nothing lost, nothing doubled, exact decimals, resumable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.dataset as ds
import pytest
from sqlalchemy import Engine
from tests.integration.api.loading import store_ticks, to_tick
from tests.integration.cold.conftest import MIDNIGHT, ColdTier
from tests.support.db import rows
from tests.support.recordings import RecordedTrade

from tickvault.cold import manifest, move, parquet, storage, store
from tickvault.cold.location import ColdLocation

DAY1 = date(2024, 8, 8)


def _expected(recorded: dict[str, list[RecordedTrade]], day: date) -> dict[str, list[Any]]:
    """Return the recorded trades of *day*, by symbol, as the strings Binance sent."""
    out: dict[str, list[Any]] = {}
    for symbol, trades in recorded.items():
        out[symbol] = sorted(
            (t.trade_id, t.price, t.quantity, t.trade_time_ms * 1000, t.is_buyer_maker)
            for t in trades
            if _day(t.trade_time_ms * 1000) == day
        )
    return out


def _day(us: int) -> date:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).date()


def _cold_rows(location: ColdLocation) -> dict[str, list[Any]]:
    """Read the whole tier the way any user would: plain pyarrow over the Hive layout."""
    dataset = ds.dataset(
        f"{location.root}/trades",
        format="parquet",
        partitioning="hive",
        filesystem=location.filesystem,
    )
    out: dict[str, list[Any]] = {}
    for r in dataset.to_table().to_pylist():
        t = r["trade_time"]
        us = int(t.timestamp()) * 1_000_000 + t.microsecond
        out.setdefault(r["symbol"], []).append(
            (
                r["trade_id"],
                format(r["price"], "f"),
                format(r["quantity"], "f"),
                us,
                r["is_buyer_maker"],
            )
        )
    return {s: sorted(v) for s, v in out.items()}


def _hot_count(engine: Engine, start: Any, end: Any) -> int:
    return rows(
        engine,
        "SELECT count(*) FROM trades WHERE trade_time >= :a AND trade_time < :b",
        a=start,
        b=end,
    )[0][0]


def test_a_past_day_moves_whole_and_reads_back_as_the_exact_strings_binance_sent(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
) -> None:
    _, engine = loaded_db
    location = cold_tier.location
    hot_before = _hot_count(engine, MIDNIGHT - timedelta(days=1), MIDNIGHT)
    report = move.move_expired(engine, location, MIDNIGHT)
    assert report.days == [DAY1]
    assert report.trades == hot_before > 0
    assert _hot_count(engine, MIDNIGHT - timedelta(days=1), MIDNIGHT) == 0
    assert _cold_rows(location) == {s: v for s, v in _expected(recorded, DAY1).items() if v}
    listed = rows(engine, "SELECT symbol, rows FROM cold_files ORDER BY symbol")
    assert listed == [(s, len(v)) for s, v in sorted(_expected(recorded, DAY1).items())]
    # the next day stays hot, and a second pass moves nothing more
    assert _hot_count(engine, MIDNIGHT, MIDNIGHT + timedelta(days=1)) > 0
    again = move.move_expired(engine, location, MIDNIGHT)
    assert again.days == [] and again.trades == 0


def test_late_trades_for_a_moved_day_land_in_its_file_exactly_once(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
) -> None:
    url, engine = loaded_db
    location = cold_tier.location
    move.move_expired(engine, location, MIDNIGHT)
    first_file = rows(engine, "SELECT path FROM cold_files WHERE symbol = 'BTCUSDT'")[0][0]
    day1 = [t for t in recorded["BTCUSDT"] if _day(t.trade_time_ms * 1000) == DAY1]
    already = day1[5]  # a redelivered trade the cold tier holds already
    late = RecordedTrade(**{**already.__dict__, "trade_id": day1[-1].trade_id + 10_000})
    store_ticks(url, [to_tick(already), to_tick(late)])
    report = move.move_expired(engine, location, MIDNIGHT)
    assert report.days == [DAY1]
    cold = _cold_rows(location)["BTCUSDT"]
    assert len(cold) == len(day1) + 1
    assert len({r[0] for r in cold}) == len(cold)
    assert rows(engine, "SELECT rows FROM cold_files WHERE symbol = 'BTCUSDT'") == [(len(cold),)]
    # the replaced file is gone from the layout, so plain readers never count a trade twice
    assert not storage.exists(location, first_file)


def test_a_move_that_fails_before_its_commit_loses_nothing_and_resumes(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, engine = loaded_db
    location = cold_tier.location
    hot_before = _hot_count(engine, MIDNIGHT - timedelta(days=1), MIDNIGHT)
    real_put = manifest.put
    calls = []

    def fail_on_second(*args: Any, **kwargs: Any) -> None:
        calls.append(args[1])
        if len(calls) == 2:
            raise OSError("disk full")
        real_put(*args, **kwargs)

    monkeypatch.setattr(manifest, "put", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        move.move_expired(engine, location, MIDNIGHT)
    # rolled back whole: the day is still hot, nothing is listed, the files are noted orphans
    assert _hot_count(engine, MIDNIGHT - timedelta(days=1), MIDNIGHT) == hot_before
    assert rows(engine, "SELECT count(*) FROM cold_files") == [(0,)]
    noted = [r[0] for r in rows(engine, "SELECT path FROM cold_orphans")]
    assert len(noted) == 2 and all(storage.exists(location, p) for p in noted)
    monkeypatch.setattr(manifest, "put", real_put)
    report = move.move_expired(engine, location, MIDNIGHT)
    assert report.trades == hot_before
    assert _cold_rows(location) == {s: v for s, v in _expected(recorded, DAY1).items() if v}
    assert not any(storage.exists(location, p) for p in noted)
    assert rows(engine, "SELECT count(*) FROM cold_orphans") == [(0,)]


def test_store_trades_twice_stores_them_once(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, engine = loaded_db
    location = cold_tier.location
    day1 = [t for t in recorded["ETHUSDT"] if _day(t.trade_time_ms * 1000) == DAY1]
    batch = [
        (
            t.trade_id,
            Decimal(t.price),
            Decimal(t.quantity),
            t.trade_time_ms * 1000,
            t.is_buyer_maker,
        )
        for t in day1
    ]
    first = store.store_trades(engine, location, "ETHUSDT", DAY1, batch[: len(batch) // 2])
    assert first is not None and first.added == len(batch) // 2
    second = store.store_trades(engine, location, "ETHUSDT", DAY1, batch)
    assert second is not None and second.added == len(batch) - len(batch) // 2
    real_write, writes = storage.write_stream, []

    def counted(*args: Any, **kwargs: Any) -> str:
        writes.append(args[3])
        return real_write(*args, **kwargs)

    monkeypatch.setattr(storage, "write_stream", counted)
    assert store.store_trades(engine, location, "ETHUSDT", DAY1, batch) is None
    assert store.store_trades(engine, location, "ETHUSDT", DAY1, batch[:10]) is None
    assert writes == []  # a repeated import reads the stored ids only, writes nothing
    assert len(_cold_rows(location)["ETHUSDT"]) == len(batch)


def test_the_writers_maintenance_moves_past_days_under_its_lease(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
    redis_client: Any,
    redis_prefix: str,
    redis_url: str,
) -> None:
    from tickvault_writer.maintenance import Maintenance
    from tickvault_writer.settings import WriterSettings

    url, engine = loaded_db
    settings = WriterSettings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        cold_url=cold_tier.url,
        retention_hours=24,
        candle_retention_days=0,
        **cold_tier.aws,
    )
    first, second = Maintenance(settings, redis_client), Maintenance(settings, redis_client)
    assert first._lease.acquire()  # another replica's pass is running: this one waits
    assert second.run_once() is False
    assert rows(engine, "SELECT count(*) FROM cold_files") == [(0,)]
    assert first._lease.release()
    assert second.run_once() is True
    # Both recorded days are years past retention: every trade is cold now, exactly once.
    assert rows(engine, "SELECT count(*) FROM trades") == [(0,)]
    every = _expected(recorded, DAY1)
    for symbol, later in _expected(recorded, DAY1 + timedelta(days=1)).items():
        every[symbol] = sorted(every[symbol] + later)
    assert _cold_rows(cold_tier.location) == every


def test_cold_days_past_their_retention_are_deleted(
    loaded_db: tuple[str, Engine], cold_tier: ColdTier
) -> None:
    _, engine = loaded_db
    location = cold_tier.location
    move.move_expired(engine, location, MIDNIGHT)
    paths = [r[0] for r in rows(engine, "SELECT path FROM cold_files")]
    assert paths and all(storage.exists(location, p) for p in paths)
    kept = move.move_expired(
        engine, location, MIDNIGHT, cold_retention_days=2, today=DAY1 + timedelta(days=2)
    )
    assert kept.expired == 0 and len(rows(engine, "SELECT path FROM cold_files")) == len(paths)
    gone = move.move_expired(
        engine, location, MIDNIGHT, cold_retention_days=2, today=DAY1 + timedelta(days=3)
    )
    assert gone.expired == len(paths)
    assert rows(engine, "SELECT count(*) FROM cold_files") == [(0,)]
    assert not any(storage.exists(location, p) for p in paths)
    assert rows(engine, "SELECT count(*) FROM cold_orphans") == [(0,)]


def test_an_object_store_that_is_down_fails_the_move_and_loses_nothing(
    loaded_db: tuple[str, Engine], cold_tier: ColdTier
) -> None:
    _, engine = loaded_db
    hot_before = rows(engine, "SELECT count(*) FROM trades")
    if cold_tier.server is not None:
        cold_tier.server.kill()
    else:  # a directory that cannot be written: a file where the tier's folder should be
        location = cold_tier.location
        location.filesystem.delete_dir_contents(location.root)
        with open(f"{location.root}/trades", "w") as blocker:
            blocker.write("not a directory")
    with pytest.raises(storage.ColdUnavailable, match="cold tier"):
        move.move_expired(engine, cold_tier.location, MIDNIGHT)
    assert rows(engine, "SELECT count(*) FROM trades") == hot_before
    assert rows(engine, "SELECT count(*) FROM cold_files") == [(0,)]


def test_a_day_moves_in_bounded_chunks_into_many_row_groups_and_merges_late_trades(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, engine = loaded_db
    location = cold_tier.location
    monkeypatch.setattr(move, "CHUNK", 997)
    monkeypatch.setattr(parquet, "ROW_GROUP", 1000)
    real_table_of, sizes = parquet.table_of, []

    def counted(rows: Any) -> Any:
        sizes.append(len(rows))
        return real_table_of(rows)

    monkeypatch.setattr(parquet, "table_of", counted)
    move.move_expired(engine, location, MIDNIGHT)
    day1 = _expected(recorded, DAY1)
    assert sum(sizes) == sum(len(v) for v in day1.values()) and max(sizes) <= 997
    assert _cold_rows(location) == {s: v for s, v in day1.items() if v}
    # late trades (one redelivered, one new) merge into a day of many row groups, streaming
    btc = [t for t in recorded["BTCUSDT"] if _day(t.trade_time_ms * 1000) == DAY1]
    late = RecordedTrade(**{**btc[1234].__dict__, "trade_id": btc[1234].trade_id * 10})
    store_ticks(url, [to_tick(btc[4321]), to_tick(late)])
    move.move_expired(engine, location, MIDNIGHT)
    path = rows(engine, "SELECT path FROM cold_files WHERE symbol = 'BTCUSDT'")[0][0]
    meta = storage.file_metadata(location, path)
    assert meta.num_rows == len(btc) + 1 and meta.num_row_groups == -(-meta.num_rows // 1000)
    assert _cold_rows(location)["BTCUSDT"][-1][0] == late.trade_id


def test_stale_temporary_files_go_but_not_one_being_written(
    loaded_db: tuple[str, Engine], cold_tier: ColdTier
) -> None:
    _, engine = loaded_db
    location = cold_tier.location
    stale = location.temp_file("BTCUSDT", DAY1)  # as a writer killed before its rename leaves
    live = location.temp_file("ÉTH/USDT", DAY1)  # its writer holds the day's lock
    for path in (stale, live):
        location.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with location.filesystem.open_output_stream(path) as out:
            out.write(b"PAR1 half a file")
    with engine.begin() as writer:
        manifest.lock_day(writer, "ÉTH/USDT", DAY1)
        assert store.tidy(engine, location) == 1
        assert sorted(storage.temp_files(location)) == [location.relative(live)]
    assert store.tidy(engine, location) == 1  # the writer is gone: its file is stale now
    assert storage.temp_files(location) == []
    move.move_expired(engine, location, MIDNIGHT)  # a move works as before and leaves none
    assert storage.temp_files(location) == []


def test_a_move_failing_mid_stream_leaves_no_temporary_file_and_loses_nothing(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, engine = loaded_db
    location = cold_tier.location
    hot_before = _hot_count(engine, MIDNIGHT - timedelta(days=1), MIDNIGHT)
    real_chunks = move._chunks

    def broken(*args: Any) -> Any:
        chunks = real_chunks(*args)
        yield next(chunks)
        raise RuntimeError("the database went away mid-stream")

    monkeypatch.setattr(move, "CHUNK", 1000)
    monkeypatch.setattr(move, "_chunks", broken)
    with pytest.raises(RuntimeError, match="mid-stream"):
        move.move_expired(engine, location, MIDNIGHT)
    assert storage.temp_files(location) == []
    assert _hot_count(engine, MIDNIGHT - timedelta(days=1), MIDNIGHT) == hot_before
    assert rows(engine, "SELECT count(*) FROM cold_files") == [(0,)]
    monkeypatch.setattr(move, "_chunks", real_chunks)
    assert move.move_expired(engine, location, MIDNIGHT).trades == hot_before
    assert _cold_rows(location) == {s: v for s, v in _expected(recorded, DAY1).items() if v}
