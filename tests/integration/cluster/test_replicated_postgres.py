"""libpq multi-host URLs on a real primary with a streaming standby (the
``replicated_postgres`` fixture): migrations, engines and failover by promotion."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from tests.private_servers import ReplicatedPostgres
from tests.support.polling import wait_until

from tickvault.db.engine import make_engine
from tickvault.db.replica import ReplicaState, is_recovery_conflict, replica_state
from tickvault.db.urls import PREFER_STANDBY

WHERE = text("SELECT pg_is_in_recovery(), inet_server_port()")


def tickvault(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("tickvault")
    return subprocess.run(
        [str(script), *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_db_upgrade_takes_a_multi_host_url_and_migrates_the_primary(
    replicated_postgres: ReplicatedPostgres, tmp_path: Path
) -> None:
    pair = replicated_postgres
    assert pair.standby is not None
    name = f"tv_{uuid.uuid4().hex[:8]}"
    # The standby first: libpq must skip it for the primary (target_session_attrs=read-write).
    hosts = f"127.0.0.1:{pair.standby.port},127.0.0.1:{pair.primary.port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    env["TICKVAULT_DATABASE_URL"] = f"postgresql://postgres@{hosts}/{name}"
    done = tickvault("db", "upgrade", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pair.wait_replayed()
    tables = "SELECT count(*) FROM pg_tables WHERE tablename IN ('trades', 'trade_gaps')"
    assert pair.standby.query(tables, name) == [(2,)]  # created on the primary, replicated


def test_the_api_side_reads_from_the_standby_and_sees_what_the_primary_wrote(
    replicated_postgres: ReplicatedPostgres,
) -> None:
    pair = replicated_postgres
    assert pair.standby is not None
    writer = make_engine(pair.url("postgres", attrs=None))  # the primary, by default
    reader = make_engine(pair.url("postgres", attrs=None), session_attrs=PREFER_STANDBY)
    table = f"t_{uuid.uuid4().hex[:8]}"
    try:
        with writer.begin() as conn:
            assert conn.execute(WHERE).one() == (False, pair.primary.port)
            conn.execute(text(f"CREATE TABLE {table} AS SELECT 42 AS answer"))
        pair.wait_replayed()
        with reader.connect() as conn:
            assert conn.execute(WHERE).one() == (True, pair.standby.port)
            assert conn.execute(text(f"SELECT answer FROM {table}")).scalar() == 42
    finally:
        with writer.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        writer.dispose()
        reader.dispose()


def test_an_engine_follows_the_primary_after_the_standby_is_promoted(
    new_replicated_postgres: ReplicatedPostgres,
) -> None:
    pair = new_replicated_postgres
    assert pair.standby is not None
    engine = make_engine(pair.url("postgres"))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept (n int)"))
            conn.execute(text("INSERT INTO kept VALUES (1)"))
        pair.wait_replayed()
        pair.primary.stop("fast")
        pair.standby.promote()
        # The same engine: its pooled connection to the old primary is found dead
        # (pool_pre_ping) and libpq connects to the one server that now accepts writes.
        with engine.begin() as conn:
            assert conn.execute(WHERE).one() == (False, pair.standby.port)
            conn.execute(text("INSERT INTO kept VALUES (2)"))
            assert conn.execute(text("SELECT sum(n) FROM kept")).scalar() == 3
    finally:
        engine.dispose()


def test_replica_lag_is_measured_and_is_zero_once_replayed(
    replicated_postgres: ReplicatedPostgres,
) -> None:
    pair = replicated_postgres
    assert pair.standby is not None
    standby = make_engine(pair.url("postgres", attrs="standby"), session_attrs=None)
    primary = make_engine(pair.url("postgres"))
    table = f"t_{uuid.uuid4().hex[:8]}"
    try:
        with primary.connect() as conn:
            assert replica_state(conn) == ReplicaState(standby=False, lag_seconds=0.0)
        with pair.replay_paused():
            with primary.begin() as conn:
                conn.execute(text(f"CREATE TABLE {table} (n int)"))
            time.sleep(1.5)
            with primary.begin() as conn:
                conn.execute(text(f"INSERT INTO {table} VALUES (1)"))  # received, not replayed

            def state_now() -> ReplicaState:
                with standby.connect() as conn:
                    return replica_state(conn)

            state = wait_until(
                state_now,
                30,
                "the standby 1 s behind",
                0.1,
                until=lambda st: st.lag_seconds and st.lag_seconds >= 1.0,
            )
            assert state.standby
        pair.wait_replayed()
        with standby.connect() as conn:
            assert replica_state(conn) == ReplicaState(standby=True, lag_seconds=0.0)
    finally:
        with primary.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        standby.dispose()
        primary.dispose()


def test_a_query_cancelled_by_replay_is_recognised_as_a_recovery_conflict() -> None:
    with ReplicatedPostgres(settings={"max_standby_streaming_delay": "0"}) as pair:
        assert pair.standby is not None
        pair.primary.query("CREATE TABLE doomed AS SELECT 1 AS n")
        pair.wait_replayed()
        standby = make_engine(pair.url("postgres", attrs="standby"), session_attrs=None)
        try:
            with pytest.raises(DBAPIError) as cancelled, standby.connect() as conn:
                # Holds a lock on `doomed` while the primary drops it: replay cannot wait.
                pair.primary.query("SELECT 1")  # (the primary is up)
                conn.execute(text("SELECT n FROM doomed")).all()
                dropper = threading.Timer(0.5, pair.primary.query, ("DROP TABLE doomed",))
                dropper.start()
                try:
                    conn.execute(text("SELECT pg_sleep(20) FROM doomed")).all()
                finally:
                    dropper.join()
            assert is_recovery_conflict(cancelled.value), cancelled.value
            assert not is_recovery_conflict(DBAPIError("SELECT 1", {}, Exception("boom")))
        finally:
            standby.dispose()
