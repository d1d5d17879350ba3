"""Engines and URLs: one place that turns a ``TICKVAULT_*_DATABASE_URL`` into an engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

DUPLICATE_DATABASE = "42P04"


def sqlalchemy_url(url: str) -> str:
    """Return *url* with the psycopg2 driver named, as SQLAlchemy wants it."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def libpq_dsn(url: str) -> str:
    """Return *url* as a libpq connection string (for psycopg2 used directly)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, application_name: str = "tickvault", **kwargs: Any) -> Engine:
    """Create an engine for *url* that names itself to PostgreSQL and pings stale connections."""
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("application_name", application_name)
    connect_args.setdefault("connect_timeout", 5)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(sqlalchemy_url(url), connect_args=connect_args, **kwargs)


def create_database_if_missing(url: str) -> bool:
    """Create the database *url* names when it does not exist; return whether it was created."""
    target = make_url(sqlalchemy_url(url))
    name = target.database
    if not name:
        raise ValueError("the database URL names no database")
    admin = make_engine(
        target.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if exists:
                return False
            quoted = conn.dialect.identifier_preparer.quote(name)
            try:
                conn.execute(text(f"CREATE DATABASE {quoted}"))
            except ProgrammingError as exc:
                if getattr(exc.orig, "pgcode", None) == DUPLICATE_DATABASE:
                    return False  # another process created it in the meantime
                raise
            return True
    finally:
        admin.dispose()
