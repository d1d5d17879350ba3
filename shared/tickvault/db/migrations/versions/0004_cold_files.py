"""The cold tier's manifest: ``cold_files``, one row per Parquet file of a symbol's day.

A row is written in the same transaction that drops the moved partitions (or, for trades
stored straight into the cold tier, right after the file is verified), so a file is either
listed and complete or not listed at all. Readers (the API) trust only listed files.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cold_files",
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("first_time", TIMESTAMPTZ, nullable=False),
        sa.Column("last_time", TIMESTAMPTZ, nullable=False),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMPTZ, nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("symbol", "day", name="cold_files_pkey"),
        sa.UniqueConstraint("path", name="cold_files_path_key"),
        sa.CheckConstraint("rows > 0 AND first_id <= last_id", name="cold_files_sane"),
    )
    # Files written but not (yet) listed, or listed no more: deleted once nothing needs them.
    op.create_table(
        "cold_orphans",
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("since", TIMESTAMPTZ, nullable=False, server_default=sa.text("now()")),
    )


def downgrade() -> None:
    op.drop_table("cold_orphans")
    op.drop_table("cold_files")
