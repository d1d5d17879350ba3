"""Say why each gap opened: ``trade_gaps.reason``.

Rows written before this revision get ``ws_gap`` (a jump in ids, the only thing the
collector recorded then) or ``audit`` when the auditor found them. The allowed values are
:class:`tickvault.codec.GapReason`, written out here because a migration must not change
when the code does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = (
    "ws_gap",
    "reconnect",
    "tail",
    "buffer_overflow",
    "stream_lost",
    "claim_deleted",
    "audit",
)


def upgrade() -> None:
    op.add_column(
        "trade_gaps",
        sa.Column("reason", sa.Text(), nullable=False, server_default="ws_gap"),
    )
    op.execute("UPDATE trade_gaps SET reason = 'audit' WHERE found_by = 'auditor'")
    op.create_check_constraint(
        "trade_gaps_reason_known",
        "trade_gaps",
        "reason IN ({})".format(", ".join(f"'{r}'" for r in REASONS)),
    )


def downgrade() -> None:
    op.drop_constraint("trade_gaps_reason_known", "trade_gaps", type_="check")
    op.drop_column("trade_gaps", "reason")
