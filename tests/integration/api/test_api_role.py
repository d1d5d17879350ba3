"""The read-only role migration: idempotent across databases, reversible per database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from sqlalchemy import text
from tests.integration.api.loading import READ_ONLY_ROLE

from tickvault.db import migrate
from tickvault.db.engine import make_engine


def _privileges(url: str) -> tuple[bool, bool]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": READ_ONLY_ROLE}
            ).scalar()
            if not exists:
                return False, False
            can_read = conn.execute(
                text("SELECT has_table_privilege(:r, 'trades', 'SELECT')"), {"r": READ_ONLY_ROLE}
            ).scalar()
            return True, bool(can_read)
    finally:
        engine.dispose()


def test_role_survives_a_downgrade_while_another_database_uses_it(
    new_database: Callable[[], str], database_url: str
) -> None:
    first, second = new_database(), new_database()
    migrate.upgrade(first, create_database=False)
    migrate.upgrade(second, create_database=False)  # the role exists already: no error
    assert _privileges(first) == (True, True)
    migrate.downgrade(first, "0001")
    # This database no longer grants anything; the role stays for the others.
    assert _privileges(first) == (True, False)
    assert _privileges(second) == (True, True)
    assert _privileges(database_url) == (True, True)
    migrate.upgrade(first, create_database=False)
    assert _privileges(first) == (True, True)


def test_check_exits_zero_when_the_stores_answer_and_one_when_not(
    database_url: str, redis_url: str
) -> None:
    env = {**os.environ, "TICKVAULT_DATABASE_URL": database_url, "TICKVAULT_REDIS_URL": redis_url}
    ok = subprocess.run(
        [sys.executable, "-m", "tickvault_api", "--check"], env=env, capture_output=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    env["TICKVAULT_REDIS_URL"] = "redis://127.0.0.1:1/0"
    down = subprocess.run(
        [sys.executable, "-m", "tickvault_api", "--check"], env=env, capture_output=True, timeout=60
    )
    assert down.returncode == 1 and b"redis: DOWN" in down.stdout


def test_bad_configuration_exits_2_naming_the_variable(database_url: str) -> None:
    env = {**os.environ, "TICKVAULT_API_WORKERS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "tickvault_api", "--check"], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 2
    assert b"TICKVAULT_API_WORKERS" in result.stderr
