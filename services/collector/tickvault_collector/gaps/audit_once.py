"""``tickvault-collector --audit-once``: one audit pass with its own REST client and publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from tickvault.errors import LeaseLost
from tickvault.keys import RedisKeys
from tickvault.redisconn import REDIS_ERRORS, AsyncRedis, connect_async
from tickvault.symbols import reported
from tickvault_collector.gaps.audit import Auditor, SymbolReport, audit_lease
from tickvault_collector.metrics import make_metrics
from tickvault_collector.publisher import Publisher
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings

log = logging.getLogger(__name__)


async def audit_once(
    settings: CollectorSettings,
    *,
    redis: AsyncRedis | None = None,
    rest: RestClient | None = None,
) -> int:
    """Run one audit pass; return 0 when every missing id was refilled, 1 when some were not,
    3 when another auditor holds the lease (or took it over while this one ran)."""
    redis = redis or connect_async(settings.redis_url, cluster=settings.redis_cluster)
    metrics = make_metrics()
    rest = rest or RestClient.from_settings(settings, metrics)
    keys = settings.redis_keys
    publisher = Publisher.from_settings(
        settings, redis, metrics, producer=f"{settings.collector_instance}-audit"
    )
    lease = audit_lease(redis, keys)
    flusher: asyncio.Task[None] | None = None
    try:
        if not await lease.acquire():
            log.warning("another auditor holds %s; not auditing", keys.audit_lease)
            return 3
        flusher = asyncio.create_task(publisher.run(), name="audit-publisher")
        try:
            symbols = await tracked_symbols(settings, redis, keys)
            reports = await lease.run(
                Auditor(lambda: symbols, settings.database_url, rest, publisher).run_once()
            )
        except LeaseLost as exc:
            log.warning("audit stopped: %s", exc)
            return 3
        finally:
            publisher.stop()
            await flusher
            await lease.release()
        for symbol, report in reports.items():
            log.info("%s", describe(symbol, report))
        return 1 if any(r.unfillable for r in reports.values()) else 0
    finally:
        await rest.close()
        with contextlib.suppress(*REDIS_ERRORS):
            await redis.aclose()


async def tracked_symbols(
    settings: CollectorSettings, redis: AsyncRedis, keys: RedisKeys
) -> list[str]:
    """Return the symbols to audit: the explicit names, and what ``ALL`` or a pattern matches
    in the symbols hash the running collector keeps."""
    selection = settings.selection
    fields: dict[bytes, bytes] = {}
    if not selection.is_explicit:
        fields = cast(dict[bytes, bytes], await redis.hgetall(keys.symbols))
    return list(reported(selection, fields))


def describe(symbol: str, r: SymbolReport) -> str:
    """Return the one-line summary of a symbol's audit."""
    return (
        f"audit {symbol}: rows={r.rows} holes={r.holes} missing={r.missing} "
        f"refilled={r.refilled} unfillable_ranges={len(r.unfillable)} "
        f"records_closed={r.records_closed}"
    )
