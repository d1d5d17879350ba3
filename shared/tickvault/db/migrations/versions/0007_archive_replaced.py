"""A file the archive replaced is compared once: ``archive_files`` remembers the comparison.

``replaced_sha256`` is the checksum of the replacing file last compared with the stored rows,
``replaced_differences`` how many of its rows differed from them (kept as stored),
``replaced_detail`` the first differences as the import reported them, and ``compared_at``
when. A later import that sees the same checksum says it was already compared instead of
reading the file again; another new checksum is compared again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = (
    ("replaced_sha256", sa.Text()),
    ("replaced_differences", sa.BigInteger()),
    ("replaced_detail", sa.Text()),
    ("compared_at", TIMESTAMP(timezone=True)),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("archive_files", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("archive_files", name)
