"""Alembic environment: runs migrations online against the URL tickvault passes in."""

from __future__ import annotations

import re
from typing import Any

from alembic import context
from sqlalchemy import Connection

from tickvault.db.engine import make_engine
from tickvault.db.models import Base

# Partitions are made by tickvault.db.partitions, not by migrations: hide them from
# autogenerate so it neither proposes dropping them nor reports them as drift.
PARTITION_NAME = re.compile(r"_p\d{8}(\d{2})?$")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Skip partition child tables and their indexes."""
    if type_ == "table" and name and PARTITION_NAME.search(name):
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", "")
    return not (type_ == "index" and table_name and PARTITION_NAME.search(table_name))


def run(connection: Connection) -> None:
    """Configure the context on *connection* and run the migrations."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `tickvault db upgrade`")
    engine = make_engine(url, application_name="tickvault-migrate")
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()
