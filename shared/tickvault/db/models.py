"""SQLAlchemy 2 typed models of every table: the schema's description for Alembic.

Only the migrations import them (their ``env.py`` hands this metadata to Alembic, and
``tickvault db check`` fails when the migrated database and these models disagree), besides
tests. The services do not: the writer writes through raw ``COPY`` and SQL
(:mod:`tickvault_writer.sql`), the API reads through raw SQL (:mod:`tickvault_api.queries`).
The schema itself is created and changed only by the Alembic migrations next to this module
(``tickvault db upgrade``). Partitions (``trades_pYYYYMMDDHH``, ``candles_1m_pYYYYMMDD``, ...)
are created and dropped by :mod:`tickvault.db.partitions`, not by migrations.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tickvault.codec import GapReason

GAP_REASON_CHECK = "reason IN ({})".format(", ".join(f"'{r.value}'" for r in GapReason))

TIMESTAMPTZ = TIMESTAMP(timezone=True)


class Base(DeclarativeBase):
    """Declarative base of the tickvault schema."""


class Trade(Base):
    """One Binance trade, stored exactly once.

    The primary key (symbol, trade_time, trade_id) is PostgreSQL's way of saying "unique on
    (symbol, trade_id)" on a table partitioned by ``trade_time``: a unique index on a
    partitioned table must contain the partition key, and a trade's time never changes, so
    the two are equivalent. The same index serves "latest before T" and range scans.
    """

    __tablename__ = "trades"
    __table_args__ = (
        PrimaryKeyConstraint("symbol", "trade_time", "trade_id", name="trades_pkey"),
        {"postgresql_partition_by": "RANGE (trade_time)"},
    )

    symbol: Mapped[str] = mapped_column(Text)
    trade_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    trade_id: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(Numeric)
    quantity: Mapped[Decimal] = mapped_column(Numeric)
    event_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    is_buyer_maker: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ)


class Candle1m(Base):
    """One-minute OHLCV per symbol, kept in step with ``trades`` by the writer.

    Besides OHLCV it keeps what makes open/close correct under out-of-order delivery (the
    time and id of the opening and closing trades) and what makes statistics exact without
    reading raw trades (sum of prices, sum of squared prices, quote volume, and the time the
    high and low were first reached).
    """

    __tablename__ = "candles_1m"
    __table_args__ = (
        PrimaryKeyConstraint("symbol", "minute", name="candles_1m_pkey"),
        {"postgresql_partition_by": "RANGE (minute)"},
    )

    symbol: Mapped[str] = mapped_column(Text)
    minute: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    open: Mapped[Decimal] = mapped_column(Numeric)
    high: Mapped[Decimal] = mapped_column(Numeric)
    low: Mapped[Decimal] = mapped_column(Numeric)
    close: Mapped[Decimal] = mapped_column(Numeric)
    volume: Mapped[Decimal] = mapped_column(Numeric)
    trades: Mapped[int] = mapped_column(Integer)
    quote_volume: Mapped[Decimal] = mapped_column(Numeric)
    price_sum: Mapped[Decimal] = mapped_column(Numeric)
    price_sq_sum: Mapped[Decimal] = mapped_column(Numeric)
    open_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    open_trade_id: Mapped[int] = mapped_column(BigInteger)
    close_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    close_trade_id: Mapped[int] = mapped_column(BigInteger)
    high_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    low_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)


class PriceLevel1m(Base):
    """How many trades (and how much volume) printed at each price in each minute.

    Lets the API compute an exact median over a day from a few thousand rows instead of
    sorting millions of raw trades.
    """

    __tablename__ = "price_levels_1m"
    __table_args__ = (
        PrimaryKeyConstraint("symbol", "minute", "price", name="price_levels_1m_pkey"),
        {"postgresql_partition_by": "RANGE (minute)"},
    )

    symbol: Mapped[str] = mapped_column(Text)
    minute: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    price: Mapped[Decimal] = mapped_column(Numeric)
    trades: Mapped[int] = mapped_column(Integer)
    volume: Mapped[Decimal] = mapped_column(Numeric)


class TradeGap(Base):
    """A range of trade ids found missing, and whether it was filled."""

    __tablename__ = "trade_gaps"
    __table_args__ = (
        UniqueConstraint("symbol", "first_id", "last_id", name="trade_gaps_range_key"),
        CheckConstraint("first_id <= last_id", name="trade_gaps_ordered"),
        CheckConstraint(
            "status IN ('detected', 'filled', 'unfillable')", name="trade_gaps_status_known"
        ),
        CheckConstraint(GAP_REASON_CHECK, name="trade_gaps_reason_known"),
        Index("trade_gaps_symbol_detected_idx", "symbol", "detected_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    symbol: Mapped[str] = mapped_column(Text)
    first_id: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    found_by: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, server_default="ws_gap")
    detected_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    filled_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)


class ArchiveFile(Base):
    """A file of Binance's public archive that ``tickvault import`` stored: what it held.

    One row per (symbol, period); written in the transaction that stores the file's last
    rows, so a file is either fully counted here or not at all. A file the archive replaced
    later is compared once with the stored rows (migration 0006): the ``replaced_*`` columns
    say with which checksum, how many rows differed and when.
    """

    __tablename__ = "archive_files"
    __table_args__ = (PrimaryKeyConstraint("symbol", "period", name="archive_files_pkey"),)

    symbol: Mapped[str] = mapped_column(Text)
    period: Mapped[str] = mapped_column(Text)  # YYYY-MM-DD (daily file) or YYYY-MM (monthly)
    sha256: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(BigInteger)
    first_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    imported_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    replaced_sha256: Mapped[str | None] = mapped_column(Text, nullable=True)
    replaced_differences: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    replaced_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    compared_at: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)


PARTITIONED_TABLES = ("trades", "candles_1m", "price_levels_1m")


class ColdFile(Base):
    """The cold tier's manifest: the one trusted Parquet file of a symbol's day."""

    __tablename__ = "cold_files"
    __table_args__ = (
        PrimaryKeyConstraint("symbol", "day", name="cold_files_pkey"),
        UniqueConstraint("path", name="cold_files_path_key"),
        CheckConstraint("rows > 0 AND first_id <= last_id", name="cold_files_sane"),
    )

    symbol: Mapped[str] = mapped_column(Text)
    day: Mapped[date] = mapped_column(Date)
    path: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(BigInteger)
    first_id: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    first_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    last_time: Mapped[datetime] = mapped_column(TIMESTAMPTZ)
    checksum: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())
    # The file's exact aggregates (NULL until filled for a file listed before migration 0006):
    # what lets range and stats answer a whole file without reading it.
    price_sum: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    price_sq_sum: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    volume: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    quote_volume: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    first_price: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    last_price: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    high: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    high_time: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)
    low: Mapped[Decimal | None] = mapped_column(Numeric, nullable=True)
    low_time: Mapped[datetime | None] = mapped_column(TIMESTAMPTZ, nullable=True)


class ColdOrphan(Base):
    """A cold file that may exist unlisted (being written, replaced or expired)."""

    __tablename__ = "cold_orphans"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    since: Mapped[datetime] = mapped_column(TIMESTAMPTZ, server_default=func.now())
