"""Where to resume each symbol: the collector's own mark in Redis, else PostgreSQL (the gaps
PostgreSQL still holds open are read by :mod:`~tickvault_collector.gaps.stored`).

The marks are read with one ``MGET`` per stream shard: a shard's marks share its hash tag,
so each ``MGET`` touches one Redis Cluster slot.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tickvault.db.engine import make_engine
from tickvault.keys import RedisKeys, ShardKeys
from tickvault.redisconn import AsyncRedis

log = logging.getLogger(__name__)

SHOWN = 5  # symbols named in the start-up line

_LAST_STORED = text(
    "SELECT trade_id FROM trades WHERE symbol = :s ORDER BY trade_time DESC, trade_id DESC LIMIT 1"
)


async def resume_points(
    redis: AsyncRedis, keys: RedisKeys, symbols: tuple[str, ...], database_url: str
) -> dict[str, int]:
    """Return the last trade id known per symbol (symbols never seen are left out)."""
    by_shard: dict[ShardKeys, list[str]] = {}
    for symbol in symbols:
        by_shard.setdefault(keys.shard_of(symbol), []).append(symbol)
    points: dict[str, int] = {}
    for shard, members in by_shard.items():
        values = await redis.mget([shard.last_id(s) for s in members])
        for symbol, value in zip(members, values, strict=True):
            if value is not None and value.isdigit():
                points[symbol] = int(value)
    missing = [s for s in symbols if s not in points]
    if missing:
        try:
            points.update(await asyncio.to_thread(_from_database, database_url, missing))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("PostgreSQL unreachable (%s); resuming from Redis only", type(exc).__name__)
    if points:
        named = list(points)[:SHOWN]
        more = len(points) - len(named)
        log.info(
            "%s%s",
            ", ".join(f"{s} resumes after trade id {points[s]}" for s in named),
            f" and {more} more symbols resume from their last id" if more else "",
        )
    return points


def _from_database(url: str, symbols: list[str]) -> dict[str, int]:
    engine = make_engine(
        url, application_name="tickvault-collector", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            out = {}
            for symbol in symbols:
                row = conn.execute(_LAST_STORED, {"s": symbol}).first()
                if row is not None:
                    out[symbol] = int(row[0])
            return out
    finally:
        engine.dispose()
