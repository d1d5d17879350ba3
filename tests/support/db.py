"""Read what PostgreSQL holds, the way a test checks it: one query, its rows as tuples."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Return the rows of one read-only query as plain tuples."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]
