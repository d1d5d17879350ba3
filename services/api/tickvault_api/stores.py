"""Connections to Redis and PostgreSQL, created lazily in each process, never across a fork.

Gunicorn forks workers; a socket inherited from the parent would be shared by two processes.
:class:`Stores` therefore creates its clients on first use and recreates them when it finds
itself in a different process than the one that created them. Failures of either store
become :class:`~tickvault_api.errors.Unavailable`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import redis
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tickvault.codec import LatestPrice, latest_from_hash
from tickvault.db.engine import make_engine
from tickvault.db.replica import ReplicaState, is_recovery_conflict, replica_state
from tickvault.db.urls import PREFER_STANDBY
from tickvault.heartbeat import parse_beat, repair_backlog
from tickvault.redisconn import REDIS_ERRORS, RedisFault, SyncRedis, classify, connect, describe
from tickvault.retry import RetryPolicy
from tickvault_api.errors import Unavailable
from tickvault_api.settings import ApiSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
CONFLICT_ATTEMPTS = 3  # a query a standby cancelled for replaying WAL is asked this often
CONFLICT_RETRY = RetryPolicy(0.02, 0.2)


class Stores:
    """Redis and PostgreSQL clients of one API process."""

    def __init__(
        self, settings: ApiSettings, *, redis_client: Any = None, engine: Engine | None = None
    ) -> None:
        self._settings = settings
        self._keys = settings.redis_keys
        self._injected_redis = redis_client
        self._injected_engine = engine
        self._lock = threading.Lock()
        self._pid = -1
        self._redis: Any = None
        self._engine: Engine | None = None

    def _ensure(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            s = self._settings
            # A blocking pool: under many concurrent requests one waits for a free connection
            # (up to 5 s) instead of failing with "too many connections".
            self._redis = self._injected_redis or _redis_client(s)
            self._engine = self._injected_engine or make_engine(
                s.api_db_url,
                application_name="tickvault-api",
                # A multi-host URL without its own target_session_attrs reads from a standby
                # when one answers, else from the primary.
                session_attrs=PREFER_STANDBY,
                pool_size=s.api_db_pool_size,
                max_overflow=s.api_db_pool_size,
                pool_timeout=5,
                # No ping before each query (it doubles the round trips of a 1 ms answer): a
                # connection found dead answers 503 once and SQLAlchemy then drops the pool.
                pool_pre_ping=False,
                pool_recycle=1800,
                connect_args={
                    "options": (
                        f"-c statement_timeout={s.api_statement_timeout_ms} "
                        "-c default_transaction_read_only=on -c TimeZone=UTC"
                    )
                },
            )
            self._pid = os.getpid()

    @property
    def redis(self) -> Any:
        """Return this process's Redis client."""
        self._ensure()
        return self._redis

    @property
    def engine(self) -> Engine:
        """Return this process's engine."""
        self._ensure()
        assert self._engine is not None
        return self._engine

    @contextmanager
    def db(self) -> Iterator[Connection]:
        """Yield a read-only connection; a database failure becomes ``unavailable``."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            raise Unavailable(_db_message(exc)) from exc
        except (PoolTimeout, DisconnectionError) as exc:
            raise Unavailable(f"PostgreSQL cannot answer right now ({type(exc).__name__})") from exc

    def query(self, work: Callable[[Connection], T], *, on_conflict: Callable[[], None]) -> T:
        """Return *work* run on a read-only connection, asked again (with a short backoff)
        when a standby cancelled it for a conflict with recovery; a database failure, or a
        conflict every time, becomes ``unavailable``."""
        backoff = CONFLICT_RETRY.backoff()
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with self.db() as conn:
                    return work(conn)
            except Unavailable as exc:
                cause = exc.__cause__
                if (
                    attempt + 1 == CONFLICT_ATTEMPTS
                    or cause is None
                    or not is_recovery_conflict(cause)
                ):
                    raise
                on_conflict()
                time.sleep(backoff.next())
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def replica(self) -> ReplicaState | None:
        """Return where the API's connections land and how far behind (None: unreachable)."""
        try:
            with self.engine.connect() as conn:
                return replica_state(conn)
        except SQLAlchemyError:
            return None

    def read_latest(self, symbols: Sequence[str]) -> dict[str, LatestPrice | None]:
        """Return the cached latest trade of each symbol (None when none is cached)."""
        client = self.redis
        try:
            if len(symbols) == 1:
                raw = [client.hgetall(self._keys.latest(symbols[0]))]
            else:
                pipe = client.pipeline(transaction=False)
                for symbol in symbols:
                    pipe.hgetall(self._keys.latest(symbol))
                raw = pipe.execute()
        except REDIS_ERRORS as exc:
            raise _redis_down(exc) from exc
        return {s: latest_from_hash(s, fields) for s, fields in zip(symbols, raw, strict=True)}

    def have_latest(self, symbols: Sequence[str]) -> dict[str, bool]:
        """Return whether a latest trade is cached for each symbol."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for symbol in symbols:
                pipe.exists(self._keys.latest(symbol))
            found = pipe.execute()
        except REDIS_ERRORS as exc:
            raise _redis_down(exc) from exc
        return {s: bool(n) for s, n in zip(symbols, found, strict=True)}

    def read_symbols(self) -> dict[bytes, bytes]:
        """Return the symbols hash the collector fills (raises redis errors as they are)."""
        raw: dict[bytes, bytes] = self.redis.hgetall(self._keys.symbols)
        return raw

    def repair_backlog(self) -> dict[str, Any] | None:
        """Return the live collectors' repair backlog from their heartbeats (None: none)."""
        with suppress(*REDIS_ERRORS):
            keys = list(self.redis.scan_iter(match=self._keys.heartbeat_pattern("collector")))
            if keys:
                pipe = self.redis.pipeline(transaction=False)  # keys in many cluster slots
                for key in keys:
                    pipe.get(key)
                beats = (parse_beat(raw) for raw in pipe.execute() if raw is not None)
                return repair_backlog(b for b in beats if b is not None)
        return None

    def ping(self) -> dict[str, bool]:
        """Return whether each store answers."""
        status = {"redis": False, "postgresql": False}
        with suppress(*REDIS_ERRORS):
            status["redis"] = bool(self.redis.ping())
        try:
            with self.engine.connect() as conn:
                status["postgresql"] = conn.execute(text("SELECT 1")).scalar() == 1
        except SQLAlchemyError:
            pass
        return status

    def close(self) -> None:
        """Close what this process opened."""
        if self._engine is not None and self._injected_engine is None:
            self._engine.dispose()
        if self._redis is not None and self._injected_redis is None:
            self._redis.close()


def _redis_client(s: ApiSettings) -> SyncRedis:
    """Return the process's Redis client: a blocking pool on one Redis (under many
    concurrent requests one waits for a free connection, up to 5 s, instead of failing with
    "too many connections"), or a Redis Cluster client with a pool per node."""
    if s.redis_cluster:
        return connect(
            s.redis_url,
            cluster=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            max_connections=s.api_redis_pool_size,
        )
    return redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(
            s.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            max_connections=s.api_redis_pool_size,
            timeout=5,
        )
    )


def _redis_down(exc: BaseException) -> Unavailable:
    if classify(exc) is RedisFault.UNREACHABLE:
        return Unavailable(f"Redis cannot answer right now ({type(exc).__name__})")
    return Unavailable(f"{describe(exc)}; try again shortly")


def _db_message(exc: DBAPIError) -> str:
    pgcode = getattr(exc.orig, "pgcode", None)
    if is_recovery_conflict(exc):
        return "the standby cancelled the query while replaying its primary's changes; try again"
    if pgcode == "57014":
        return "the query took longer than the statement timeout; ask for a shorter window"
    return f"PostgreSQL cannot answer right now ({type(exc.orig).__name__})"
