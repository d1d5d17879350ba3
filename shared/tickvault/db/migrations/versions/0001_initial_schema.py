"""Initial schema: partitioned trades, candles_1m, price_levels_1m, and trade_gaps.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trades",
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("trade_time", TZ, nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("event_time", TZ, nullable=False),
        sa.Column("is_buyer_maker", sa.Boolean(), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "trade_time", "trade_id", name="trades_pkey"),
        postgresql_partition_by="RANGE (trade_time)",
    )
    op.create_table(
        "candles_1m",
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("minute", TZ, nullable=False),
        sa.Column("open", sa.Numeric(), nullable=False),
        sa.Column("high", sa.Numeric(), nullable=False),
        sa.Column("low", sa.Numeric(), nullable=False),
        sa.Column("close", sa.Numeric(), nullable=False),
        sa.Column("volume", sa.Numeric(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("quote_volume", sa.Numeric(), nullable=False),
        sa.Column("price_sum", sa.Numeric(), nullable=False),
        sa.Column("price_sq_sum", sa.Numeric(), nullable=False),
        sa.Column("open_time", TZ, nullable=False),
        sa.Column("open_trade_id", sa.BigInteger(), nullable=False),
        sa.Column("close_time", TZ, nullable=False),
        sa.Column("close_trade_id", sa.BigInteger(), nullable=False),
        sa.Column("high_time", TZ, nullable=False),
        sa.Column("low_time", TZ, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "minute", name="candles_1m_pkey"),
        postgresql_partition_by="RANGE (minute)",
    )
    op.create_table(
        "price_levels_1m",
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("minute", TZ, nullable=False),
        sa.Column("price", sa.Numeric(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("volume", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "minute", "price", name="price_levels_1m_pkey"),
        postgresql_partition_by="RANGE (minute)",
    )
    op.create_table(
        "trade_gaps",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("found_by", sa.Text(), nullable=False),
        sa.Column("detected_at", TZ, nullable=False),
        sa.Column("filled_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="trade_gaps_pkey"),
        sa.UniqueConstraint("symbol", "first_id", "last_id", name="trade_gaps_range_key"),
        sa.CheckConstraint("first_id <= last_id", name="trade_gaps_ordered"),
        sa.CheckConstraint(
            "status IN ('detected', 'filled', 'unfillable')", name="trade_gaps_status_known"
        ),
    )
    op.create_index("trade_gaps_symbol_detected_idx", "trade_gaps", ["symbol", "detected_at"])


def downgrade() -> None:
    op.drop_index("trade_gaps_symbol_detected_idx", table_name="trade_gaps")
    op.drop_table("trade_gaps")
    op.drop_table("price_levels_1m")
    op.drop_table("candles_1m")
    op.drop_table("trades")
