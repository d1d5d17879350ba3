"""Per-file aggregates in the cold manifest: ``range`` and ``stats`` without reading files.

``cold_files`` gains the exact aggregates of each file's trades: the sums of price, price²,
quantity and price × quantity (``numeric``, exact and at the scale the trades carry), the first
and last price by (time, id), and the high and low with the earliest time each was reached.
The API answers a file that lies wholly inside a window from these columns. Files listed
before this revision have them NULL until ``tickvault cold move`` (or the writers'
maintenance) reads each once and fills them in; until then the API reads those files as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIMALS = ("price_sum", "price_sq_sum", "volume", "quote_volume", "first_price", "last_price")
EXTREMES = ("high", "low")


def upgrade() -> None:
    for name in DECIMALS:
        op.add_column("cold_files", sa.Column(name, sa.Numeric(), nullable=True))
    for name in EXTREMES:
        op.add_column("cold_files", sa.Column(name, sa.Numeric(), nullable=True))
        op.add_column("cold_files", sa.Column(f"{name}_time", TIMESTAMP(timezone=True)))


def downgrade() -> None:
    for name in (*DECIMALS, *EXTREMES, *(f"{e}_time" for e in EXTREMES)):
        op.drop_column("cold_files", name)
