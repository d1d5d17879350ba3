"""PostgreSQL the way a test drives it: read what it holds (one query, its rows as tuples),
or cut an application's sessions as a server restart would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Return the rows of one read-only query as plain tuples."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def terminate_backends(engine: Engine, application_name: str, database: str | None = None) -> int:
    """Terminate the server processes of one application on *database* (by default the
    engine's own); return how many."""
    with engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = coalesce(:db, current_database()) AND application_name = :app"
            ),
            {"db": database, "app": application_name},
        ).scalar()
        conn.commit()
    return int(n or 0)
