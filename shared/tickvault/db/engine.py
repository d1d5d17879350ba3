"""Engines: one place that turns a ``TICKVAULT_*_DATABASE_URL`` into an engine.

URLs may list several servers (libpq's multi-host form, see :mod:`tickvault.db.urls`); an
engine then connects to the primary unless asked for another ``target_session_attrs``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import ProgrammingError

from tickvault.db.urls import PRIMARY, libpq_url, parse_database_url, sqlalchemy_url, with_database

DUPLICATE_DATABASE = "42P04"


def libpq_dsn(url: str) -> str:
    """Return *url* as a libpq connection URI for psycopg2 used directly (the primary)."""
    return libpq_url(url)


def make_engine(
    url: str,
    *,
    application_name: str = "tickvault",
    session_attrs: str | None = PRIMARY,
    **kwargs: Any,
) -> Engine:
    """Create an engine for *url* that names itself to PostgreSQL and pings stale connections.

    With several servers in *url*, connections go where *session_attrs* says (the primary by
    default) unless the URL names its own ``target_session_attrs``.
    """
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("application_name", application_name)
    connect_args.setdefault("connect_timeout", 5)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(
        sqlalchemy_url(url, session_attrs=session_attrs), connect_args=connect_args, **kwargs
    )


def create_database_if_missing(url: str) -> bool:
    """Create the database *url* names when it does not exist; return whether it was created."""
    name = parse_database_url(url).database
    if not name:
        raise ValueError("the database URL names no database")
    admin = make_engine(with_database(url, "postgres"), isolation_level="AUTOCOMMIT")
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
