"""Bring in Binance's public archive: the ``archive`` gap reason and ``archive_files``.

``trade_gaps.reason`` gains ``archive`` (a hole ``tickvault import`` found by id continuity
in the archive's files). ``archive_files`` lists every file an import stored, with its
sha256, rows and first and last trade id, so a second run skips what is done and a file the
archive replaced later is noticed. The reasons are written out here because a migration must
not change when the code does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("ws_gap", "reconnect", "tail", "buffer_overflow", "stream_lost", "claim_deleted", "audit")
AFTER = (*BEFORE, "archive")


def _reasons(reasons: tuple[str, ...]) -> None:
    op.drop_constraint("trade_gaps_reason_known", "trade_gaps", type_="check")
    op.create_check_constraint(
        "trade_gaps_reason_known",
        "trade_gaps",
        "reason IN ({})".format(", ".join(f"'{r}'" for r in reasons)),
    )


def upgrade() -> None:
    _reasons(AFTER)
    op.create_table(
        "archive_files",
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=True),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("imported_at", TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "period", name="archive_files_pkey"),
    )


def downgrade() -> None:
    op.drop_table("archive_files")
    op.execute("DELETE FROM trade_gaps WHERE reason = 'archive'")
    _reasons(BEFORE)
