"""Fixtures shared by every tier.

- Tests are marked by folder: ``tests/unit`` → ``unit``, ``tests/integration`` →
  ``integration``, ``tests/e2e`` → ``e2e`` (an explicit marker also works).
- Integration and e2e tests talk to real PostgreSQL and Redis on loopback. Each test run gets
  its own freshly created database (dropped at the end) and each test its own Redis key
  prefix, so runs never see each other's data. The servers come from
  ``TICKVAULT_TEST_DATABASE_URL`` / ``TICKVAULT_TEST_REDIS_URL``; when they do not answer the
  tests fail (never skip) with a message saying how to start them.
- Tests of clustering and replication get private servers of their own, started only when a
  test asks for them, on free loopback ports in temporary directories (see
  ``tests/private_servers``): ``redis_cluster`` (three masters, three replicas, shared by
  the session) and ``replicated_postgres`` (a primary and a streaming standby, shared);
  ``new_redis_cluster`` and ``new_replicated_postgres`` give a test servers of its own to
  kill or promote.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from tests.private_servers import PrivateRedisCluster, ReplicatedPostgres
from tests.support.redis_keys import delete_prefix, new_prefix

from tickvault.config import Settings
from tickvault.db import migrate
from tickvault.db.engine import make_engine

TEST_DATABASE_URL = os.environ.get(
    "TICKVAULT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TICKVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
HOW_TO_START = (
    "start them with `make services` (or: pg_ctlcluster --skip-systemctl-redirect "
    "$(ls /etc/postgresql) main start; redis-server --daemonize yes --bind 127.0.0.1 "
    '--port 6379 --save "" --appendonly no)'
)
TIERS = ("unit", "integration", "e2e")

# Property tests are bounded and must not flake on a shared, loaded machine: no per-example
# deadline and no "too slow" health check; the example count stays bounded.
settings.register_profile(
    "tickvault",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    max_examples=int(os.environ.get("TICKVAULT_HYPOTHESIS_EXAMPLES", "100")),
)
settings.load_profile("tickvault")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the folder it lives in."""
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if tier in parts and not item.get_closest_marker(tier):
                item.add_marker(getattr(pytest.mark, tier))


def _database_url(name: str) -> str:
    return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def admin_engine() -> Iterator[Engine]:
    """An autocommit engine on the test server's maintenance database."""
    engine = make_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means the server is not there
        engine.dispose()
        pytest.fail(f"PostgreSQL at {TEST_DATABASE_URL} does not answer ({exc}); {HOW_TO_START}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def new_database(admin_engine: Engine) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases (dropped at the end of the run)."""
    made: list[str] = []

    def make() -> str:
        name = f"tickvault_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return _database_url(name)

    yield make
    with admin_engine.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(new_database: Callable[[], str]) -> str:
    """The URL of this run's database, migrated to head."""
    url = new_database()
    migrate.upgrade(url, create_database=False)
    return url


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    """An engine on this run's migrated database."""
    engine = make_engine(database_url, application_name="tickvault-tests")
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(db_engine: Engine) -> Engine:
    """This run's database with every table emptied before the test."""
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE trades, candles_1m, price_levels_1m, trade_gaps"))
    return db_engine


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL, checked to answer."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {TEST_REDIS_URL} does not answer ({exc}); {HOW_TO_START}")
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = new_prefix()
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A real Redis client (bytes responses)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make_settings(
    request: pytest.FixtureRequest,
) -> Callable[..., Settings]:
    """A factory of settings pointed at this test's database and Redis prefix.

    Only the stores a test asked for are wired in: a unit test gets pure defaults.
    """

    def make(cls: type[Settings] = Settings, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        if "database_url" in request.fixturenames:
            values["database_url"] = request.getfixturevalue("database_url")
        if "redis_prefix" in request.fixturenames:
            values["redis_url"] = request.getfixturevalue("redis_url")
            values["redis_prefix"] = request.getfixturevalue("redis_prefix")
        values.update(overrides)
        return cls(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[PrivateRedisCluster]:
    """A Redis Cluster of three masters and three replicas, shared by the session.

    Tests use their own key prefix and leave every node running; one that kills a node takes
    ``new_redis_cluster`` instead.
    """
    with PrivateRedisCluster() as cluster:
        yield cluster


@pytest.fixture
def new_redis_cluster() -> Iterator[PrivateRedisCluster]:
    """A Redis Cluster of this test's own (about two seconds to start), free to break."""
    with PrivateRedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """A PostgreSQL primary with one streaming standby, shared by the session."""
    with ReplicatedPostgres() as pair:
        yield pair


@pytest.fixture
def new_replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """A primary and standby of this test's own, free to stop and promote."""
    with ReplicatedPostgres() as pair:
        yield pair
