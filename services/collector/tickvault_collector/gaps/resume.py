"""Where to resume each symbol: the collector's own mark in Redis, else PostgreSQL; and the
gaps a collector opened that PostgreSQL still holds open (:func:`open_gaps`), to refill.

The marks are read with one ``MGET`` per stream shard: a shard's marks share its hash tag,
so each ``MGET`` touches one Redis Cluster slot.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tickvault.codec import GapReason
from tickvault.db.engine import make_engine
from tickvault.keys import RedisKeys, ShardKeys
from tickvault.redisconn import AsyncRedis
from tickvault.tick import datetime_to_us

log = logging.getLogger(__name__)

SHOWN = 5  # symbols named in the start-up line

_OPEN_GAPS = text(
    "SELECT symbol, first_id, last_id, reason, detected_at FROM trade_gaps"
    " WHERE status = 'detected' AND found_by = 'collector' AND symbol = ANY(:symbols)"
    " ORDER BY symbol, first_id"
)
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


OpenGap = tuple[str, int, int, GapReason, int]  # symbol, first, last, reason, detected_at µs


async def open_gaps(database_url: str, symbols: list[str]) -> list[OpenGap] | None:
    """Return the collector's gaps PostgreSQL holds as ``detected`` (None: unreachable).

    A collector killed while refilling them, or a Redis that lost the records closing them,
    leaves them open: whoever captures the symbol refills them.
    """
    try:
        return await asyncio.to_thread(_open_gaps, database_url, symbols)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("open gaps not read: PostgreSQL unreachable (%s)", type(exc).__name__)
        return None


def _open_gaps(url: str, symbols: list[str]) -> list[OpenGap]:
    engine = make_engine(
        url, application_name="tickvault-collector", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(_OPEN_GAPS, {"symbols": symbols}).all()
    finally:
        engine.dispose()
    out: list[OpenGap] = []
    for symbol, first, last, reason, detected in rows:
        try:
            why = GapReason(reason)
        except ValueError:
            why = GapReason.WS_GAP
        out.append((str(symbol), int(first), int(last), why, datetime_to_us(detected)))
    return out
