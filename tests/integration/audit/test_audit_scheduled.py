"""A running collector audits PostgreSQL on its own schedule, one collector at a time.

Both recordings are stored through a writer, rows are deleted from ``trades`` (in the test
only), and real ``tickvault-collector`` processes run with a short audit interval against a
replay exchange that has released every recorded trade (nobody subscribes before the end, so
its clock starts at launch). The holes must come back, refilled exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text
from tests.support.paths import TRADE_RECORDINGS
from tests.support.recordings import RecordedTrade, all_recorded_trades
from tests.support.replay import ReplayProcess, replay_process

from tickvault.codec import GapRecord, GapStatus, from_fields, to_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Source, Tick
from tickvault_writer.service import Writer
from tickvault_writer.settings import WriterSettings

LOOKBACK_HOURS = 24 * 3650  # the recordings are from 2024


@pytest.fixture(scope="module")
def recorded() -> dict[str, list[RecordedTrade]]:
    return all_recorded_trades()


@pytest.fixture(scope="module")
def exchange() -> Iterator[ReplayProcess]:
    args: list[str] = []
    for path in TRADE_RECORDINGS:
        args += ["--recording", str(path)]
    with replay_process(*args, "--speed", "2000", "--start-now") as replay:
        _wait(lambda: replay.stats()["finished"], "the replay to release every trade")
        yield replay


def _wait(
    predicate: Callable[[], Any],
    what: str,
    timeout: float = 60,
    logs: Callable[[], str] = lambda: "",
) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}\n{logs()[-4000:]}"
        time.sleep(0.05)


def _tick(t: RecordedTrade) -> Tick:
    return Tick(
        t.symbol,
        t.trade_id,
        t.price,
        t.quantity,
        t.trade_time_ms * 1000,
        t.event_time_ms * 1000,
        t.is_buyer_maker,
        t.event_time_ms * 1000 + 5,
    )


def _stored(engine: Engine) -> dict[tuple[str, int], tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, trade_id, price::text, quantity::text FROM trades")
        )
        return {(s, int(i)): (p, q) for s, i, p, q in rows}


def _gaps(engine: Engine) -> set[tuple[str, int, int, str, str]]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT symbol, first_id, last_id, status, found_by FROM trade_gaps")
            ).all()
        )


@pytest.fixture
def writer(
    clean_db: Engine,
    make_settings: Callable[..., Any],
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: dict[str, list[RecordedTrade]],
) -> Iterator[Writer]:
    """Both recordings stored in ``trades`` through a writer, every entry acknowledged."""
    settings = make_settings(
        WriterSettings, retention_hours=0, writer_metrics_port=0, writer_maintenance_interval_s=0
    )
    writer = Writer(settings, redis=redis_client)
    writer.reader.ensure_group()
    keys = RedisKeys(redis_prefix)
    pipe = redis_client.pipeline(transaction=False)
    for trades in recorded.values():
        for t in trades:
            pipe.xadd(keys.stream, to_fields(_tick(t)))  # type: ignore[arg-type]
    pipe.execute()
    total = redis_client.xlen(keys.stream)
    _wait(lambda: writer.step() >= 0 and writer.totals.entries >= total, "the writer")
    yield writer
    writer.close()


class Collectors:
    """``tickvault-collector`` processes started by one test, stopped at its end."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, **extra: str) -> int:
        log_path = self.tmp_path / f"collector-{len(self.started)}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tickvault_collector"],
                env={**os.environ, **self.env, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append((proc, log_path))
        return len(self.started) - 1

    def log(self, index: int) -> str:
        return self.started[index][1].read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(self.log(i) for i in range(len(self.started)))

    def stop(self) -> list[int]:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return [proc.wait(timeout=20) for proc, _ in self.started]


@pytest.fixture
def collectors(
    database_url: str, redis_url: str, redis_prefix: str, exchange: ReplayProcess, tmp_path: Path
) -> Iterator[Collectors]:
    group = Collectors(
        {
            "TICKVAULT_REDIS_URL": redis_url,
            "TICKVAULT_REDIS_PREFIX": redis_prefix,
            "TICKVAULT_DATABASE_URL": database_url,
            "TICKVAULT_SYMBOLS": "BTCUSDT,ETHUSDT",
            "TICKVAULT_BINANCE_WS_URL": exchange.ws_url,
            "TICKVAULT_BINANCE_REST_URL": exchange.rest_url,
            "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
            "TICKVAULT_COLLECTOR_AUDIT_LOOKBACK_HOURS": str(LOOKBACK_HOURS),
            "TICKVAULT_LOG_LEVEL": "INFO",
        },
        tmp_path,
    )
    yield group
    for proc, _ in group.started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _delete_holes(
    engine: Engine,
    recorded: dict[str, list[RecordedTrade]],
) -> dict[str, list[int]]:
    btc = [t.trade_id for t in recorded["BTCUSDT"]]
    eth = [t.trade_id for t in recorded["ETHUSDT"]]
    gone = {"BTCUSDT": btc[300:340], "ETHUSDT": [eth[5000]]}
    with engine.begin() as conn:
        for symbol, ids in gone.items():
            conn.execute(
                text("DELETE FROM trades WHERE symbol = :s AND trade_id = ANY(:ids)"),
                {"s": symbol, "ids": ids},
            )
    return gone


def _audit_entries(
    client: redis.Redis,
    keys: RedisKeys,
) -> tuple[list[Tick], list[GapRecord]]:
    entries = [from_fields(f) for _, f in client.xrange(keys.stream)]  # type: ignore[union-attr, arg-type]
    ticks = [e for e in entries if isinstance(e, Tick) and e.source is Source.AUDIT]
    records = [e for e in entries if isinstance(e, GapRecord) and e.found_by == "auditor"]
    return ticks, records


def _expected_gaps(gone: dict[str, list[int]]) -> set[tuple[str, int, int, str, str]]:
    return {(s, ids[0], ids[-1], "filled", "auditor") for s, ids in gone.items()}


def test_a_running_collector_refills_a_hole_within_its_audit_interval(
    writer: Writer,
    clean_db: Engine,
    collectors: Collectors,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: dict[str, list[RecordedTrade]],
) -> None:
    keys = RedisKeys(redis_prefix)
    full = _stored(clean_db)
    gone = _delete_holes(clean_db, recorded)
    assert len(_stored(clean_db)) == len(full) - 41
    collectors.start(TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S="1")
    _wait(
        lambda: writer.step() >= 0 and _stored(clean_db) == full,
        "the holes to be refilled",
        timeout=60,
        logs=collectors.logs,
    )
    _wait(
        lambda: writer.step() >= 0 and _gaps(clean_db) == _expected_gaps(gone),
        "the auditor's gap records",
        logs=collectors.logs,
    )
    ticks, records = _audit_entries(redis_client, keys)
    assert sorted((t.symbol, t.trade_id) for t in ticks) == sorted(
        (s, i) for s, ids in gone.items() for i in ids
    )
    assert all((t.price, t.quantity) == full[(t.symbol, t.trade_id)] for t in ticks)
    assert sorted((r.symbol, r.first_id, r.last_id, r.status) for r in records) == sorted(
        (s, ids[0], ids[-1], st)
        for s, ids in gone.items()
        for st in (GapStatus.DETECTED, GapStatus.FILLED)
    )
    assert collectors.stop() == [0]
    log = collectors.log(0)
    assert "holes=2 missing=41 refilled=41" in log
    assert log.count("refilled=41") == 1  # later runs find nothing more to do


def test_the_lease_lets_one_collector_of_two_audit_at_a_time(
    writer: Writer,
    clean_db: Engine,
    collectors: Collectors,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: dict[str, list[RecordedTrade]],
) -> None:
    keys = RedisKeys(redis_prefix)
    full = _stored(clean_db)
    gone = _delete_holes(clean_db, recorded)
    redis_client.set(keys.audit_lease, b"someone-else", ex=120)
    for _ in range(2):
        collectors.start(TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S="4")
    # While someone else audits, neither collector does.
    _wait(
        lambda: all("another collector holds" in collectors.log(i) for i in (0, 1)),
        "both collectors to find the lease held",
        logs=collectors.logs,
    )
    assert _audit_entries(redis_client, keys) == ([], [])
    redis_client.delete(keys.audit_lease)
    _wait(
        lambda: writer.step() >= 0 and _stored(clean_db) == full,
        "the holes to be refilled",
        timeout=60,
        logs=collectors.logs,
    )
    _wait(
        lambda: writer.step() >= 0 and _gaps(clean_db) == _expected_gaps(gone),
        "the auditor's gap records",
        logs=collectors.logs,
    )
    # Both collectors keep trying; the holes were refilled by one of them, once.
    _wait(
        lambda: (
            writer.step() >= 0
            and sum(collectors.log(i).count("another collector holds") for i in (0, 1)) >= 3
        ),
        "another turn of both schedules",
        logs=collectors.logs,
    )
    ticks, records = _audit_entries(redis_client, keys)
    assert sorted((t.symbol, t.trade_id) for t in ticks) == sorted(
        (s, i) for s, ids in gone.items() for i in ids
    )
    assert len(records) == 4
    assert collectors.stop() == [0, 0]
    assert collectors.logs().count("refilled=41") == 1
