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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, text
from tests.integration.audit.audit_support import stored, wait
from tests.private_servers import ReplayProcess
from tests.support.recordings import RecordedTrade

from tickvault.codec import GapRecord, GapStatus, from_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Source, Tick
from tickvault_writer.service import Writer

LOOKBACK_HOURS = 24 * 3650  # the recordings are from 2024


def _gaps(engine: Engine) -> set[tuple[str, int, int, str, str]]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT symbol, first_id, last_id, status, found_by FROM trade_gaps")
            ).all()
        )


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


def _wait_refilled(holes: Holes, collectors: Collectors) -> None:
    """Wait (the writer storing meanwhile) for the holes and the auditor's gap records."""
    writer, db = holes.writer, holes.db
    wait(
        lambda: writer.step() >= 0 and stored(db) == holes.full,
        "the holes to be refilled",
        timeout=60,
        logs=collectors.logs,
    )
    wait(
        lambda: writer.step() >= 0 and _gaps(db) == _expected_gaps(holes.gone),
        "the auditor's gap records",
        logs=collectors.logs,
    )


@dataclass(frozen=True)
class Holes:
    """Every recorded trade stored by *writer* in *db*, then two holes (41 trades) punched."""

    writer: Writer
    db: Engine
    keys: RedisKeys
    full: dict[tuple[str, int], tuple[str, str]]  # what was stored before
    gone: dict[str, list[int]]  # the ids deleted, by symbol


@pytest.fixture
def holes(
    stored_recordings: Writer,
    clean_db: Engine,
    redis_prefix: str,
    redis_client: redis.Redis,
    recorded: dict[str, list[RecordedTrade]],
) -> Holes:
    """Every recorded trade stored, then two holes (41 trades) punched.

    A consumer group of the test's own, which never acknowledges, keeps every entry
    appended from now on in the stream (the collector trims only what all groups
    acknowledged), so the test can count what the auditors appended.
    """
    redis_client.xgroup_create(RedisKeys(redis_prefix).stream, "test-observer", id="$")
    full = stored(clean_db)
    gone = _delete_holes(clean_db, recorded)
    assert len(stored(clean_db)) == len(full) - 41
    return Holes(stored_recordings, clean_db, RedisKeys(redis_prefix), full, gone)


def test_a_running_collector_refills_a_hole_within_its_audit_interval(
    collectors: Collectors, redis_client: redis.Redis, holes: Holes
) -> None:
    keys = holes.keys
    full, gone = holes.full, holes.gone
    collectors.start(TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S="1")
    _wait_refilled(holes, collectors)
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
    collectors: Collectors, redis_client: redis.Redis, holes: Holes
) -> None:
    keys = holes.keys
    gone = holes.gone
    redis_client.set(keys.audit_lease, b"someone-else", ex=120)
    for _ in range(2):
        collectors.start(TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S="4")
    # While someone else audits, neither collector does.
    wait(
        lambda: all("another collector holds" in collectors.log(i) for i in (0, 1)),
        "both collectors to find the lease held",
        logs=collectors.logs,
    )
    assert _audit_entries(redis_client, keys) == ([], [])
    redis_client.delete(keys.audit_lease)
    _wait_refilled(holes, collectors)
    # Both collectors keep trying; the holes were refilled by one of them, once.
    wait(
        lambda: (
            holes.writer.step() >= 0
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
