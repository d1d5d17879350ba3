"""A full synthetic day of trades for the API benchmark, COPYed into its own database.

BTCUSDT (~3M trades) and ETHUSDT (~1.5M) on 2024-08-10, prices on a seeded random walk
with exact cent steps; candles_1m and price_levels_1m are then built from the trades by SQL,
the same aggregates the writer maintains.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from tickvault.db import partitions

DAY = datetime(2024, 8, 10, tzinfo=UTC)
DAY_US = 86_400_000_000
COUNTS = {"BTCUSDT": 3_000_000, "ETHUSDT": 1_500_000}
START_CENTS = {"BTCUSDT": 6_100_000, "ETHUSDT": 260_000}
CHUNK = 250_000


def _chunks(symbol: str, count: int, rng: random.Random) -> Iterator[io.StringIO]:
    """Yield COPY text of the symbol's trades, CHUNK rows at a time."""
    cents = START_CENTS[symbol]
    step_us = DAY_US / count
    seconds: dict[int, str] = {}
    steps = tuple(range(-10, 11))  # cents per trade: a few hundred price levels a minute
    quantities = ("0.00010000", "0.00100000", "0.01200000", "0.50000000", "1.25000000")
    buf = io.StringIO()
    for i in range(count):
        cents = max(100, cents + rng.choice(steps))
        offset = int(i * step_us)
        second = offset // 1_000_000
        prefix = seconds.get(second)
        if prefix is None:
            prefix = (DAY + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S")
            seconds = {second: prefix}
        stamp = f"{prefix}.{offset % 1_000_000:06d}+00"
        buf.write(
            f"{symbol}\t{stamp}\t{1_000_000_000 + i}\t{cents // 100}.{cents % 100:02d}000000\t"
            f"{rng.choice(quantities)}\t{stamp}\t{'t' if i % 2 else 'f'}\t{stamp}\n"
        )
        if (i + 1) % CHUNK == 0:
            buf.seek(0)
            yield buf
            buf = io.StringIO()
    buf.seek(0)
    yield buf


_CANDLES = """
INSERT INTO candles_1m (symbol, minute, open, high, low, close, volume, trades, quote_volume,
    price_sum, price_sq_sum, open_time, open_trade_id, close_time, close_trade_id,
    high_time, low_time)
SELECT symbol, minute,
    (array_agg(price ORDER BY trade_time, trade_id))[1], max(price), min(price),
    (array_agg(price ORDER BY trade_time DESC, trade_id DESC))[1],
    sum(quantity), count(*), sum(price * quantity), sum(price), sum(price * price),
    min(trade_time), (array_agg(trade_id ORDER BY trade_time, trade_id))[1],
    max(trade_time), (array_agg(trade_id ORDER BY trade_time DESC, trade_id DESC))[1],
    (array_agg(trade_time ORDER BY price DESC, trade_time))[1],
    (array_agg(trade_time ORDER BY price, trade_time))[1]
FROM (SELECT *, date_trunc('minute', trade_time) AS minute FROM trades) t
GROUP BY symbol, minute
"""
_LEVELS = """
INSERT INTO price_levels_1m (symbol, minute, price, trades, volume)
SELECT symbol, date_trunc('minute', trade_time), price, count(*), sum(quantity)
FROM trades GROUP BY 1, 2, 3
"""


def loaded(engine: Engine) -> bool:
    """Return whether the benchmark day is already in the database."""
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM candles_1m")).scalar()
    return bool(n and n >= 2 * 1440)


def load(engine: Engine, seed: int = 7) -> None:
    """Replace the database's contents with the synthetic day."""
    rng = random.Random(seed)
    hours = [DAY + timedelta(hours=h) for h in range(24)]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE trades, candles_1m, price_levels_1m, trade_gaps"))
        partitions.ensure_partitions(conn, partitions.TRADES, hours)
        partitions.ensure_partitions(conn, partitions.CANDLES, [DAY])
        partitions.ensure_partitions(conn, partitions.LEVELS, [DAY])
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for symbol, count in COUNTS.items():
                for chunk in _chunks(symbol, count, rng):
                    cur.copy_expert(
                        "COPY trades (symbol, trade_time, trade_id, price, quantity, event_time,"
                        " is_buyer_maker, received_at) FROM STDIN",
                        chunk,
                    )
            cur.execute("SET work_mem = '256MB'")
            cur.execute(_CANDLES)
            cur.execute(_LEVELS)
        raw.commit()
    finally:
        raw.close()
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("VACUUM ANALYZE trades"))
        conn.execute(text("VACUUM ANALYZE candles_1m"))
        conn.execute(text("VACUUM ANALYZE price_levels_1m"))
