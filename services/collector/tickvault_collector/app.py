"""Start, run and stop a collector: read the universe, resume, run every task, exit cleanly.

:func:`run` takes its collaborators (Redis client, REST client, metrics registry) so tests
inject them through the same door production uses. It returns the process exit status, 0
after a clean stop. A configured symbol the exchange does not list is logged and reported
(status ``UNLISTED``); the others are captured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable
from typing import TypeVar

from prometheus_client import CollectorRegistry

from tickvault.errors import ConfigError, ExchangeError, FrameError
from tickvault.heartbeat import beat_value
from tickvault.keys import RedisKeys
from tickvault.redisconn import REDIS_ERRORS, AsyncRedis, check_mode_async, connect_async, describe
from tickvault_collector.collector import Collector
from tickvault_collector.gaps import ScheduledAudit, collector_gaps, resume_points
from tickvault_collector.metrics import make_metrics
from tickvault_collector.pool import Connections
from tickvault_collector.refresh import SymbolRefresh
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.universe import Tracker, Universe

log = logging.getLogger(__name__)

STOP_FLUSH_TIMEOUT_S = 15.0
STOP_TASKS_TIMEOUT_S = 3.0  # per round of cancelling the tasks at stop
STOP_CLOSE_TIMEOUT_S = 2.0  # closing the REST session and the Redis pool
T = TypeVar("T")


async def run(
    settings: CollectorSettings,
    *,
    redis: AsyncRedis | None = None,
    rest: RestClient | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the collector until *stop* is set (or SIGTERM/SIGINT); return the exit status."""
    metrics = make_metrics(registry)
    redis = redis or connect_async(settings.redis_url, cluster=settings.redis_cluster)
    rest = rest or RestClient.from_settings(settings, metrics)
    stop = stop or asyncio.Event()
    _install_signals(stop)
    try:
        collector = Collector(settings, redis, rest, metrics)
        refresh = SymbolRefresh(
            settings,
            rest,
            redis,
            metrics,
            Tracker(settings.selection),
            capture=collector,
            on_round=collector.tickers.check_soon,
        )
        collector.tickers.notice = refresh.notice
        universe = await _unless_stopped(stop, _first_universe(settings, rest, refresh))
        if universe is None:
            return 0
        refresh.first(universe)
        tracked = tuple(refresh.tracker.statuses)
        keys = settings.redis_keys
        resume = await _unless_stopped(stop, _resume(redis, keys, tracked, settings))
        if resume is None:
            return 0
        collector.track(tracked, resume=resume, after_start=False)
        stored = await _unless_stopped(stop, collector_gaps(settings.database_url, list(tracked)))
        collector.gaps.reopen(stored or [])
        connections = Connections(
            settings,
            collector,
            collector.gaps.tails.clocks,
            metrics,
            on_ticker_replaced=collector.tickers.check_soon,
        )
        connections.add(refresh.tracker.trading())
        refresh.connect(connections)
        metrics.serve(settings.collector_metrics_port)
        await _serve(collector, redis, refresh, connections, stop)
        return 0
    finally:
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(STOP_CLOSE_TIMEOUT_S):
                await rest.close()
        with contextlib.suppress(*REDIS_ERRORS, TimeoutError):
            async with asyncio.timeout(STOP_CLOSE_TIMEOUT_S):
                await redis.aclose()


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """Return *work*'s result, or None (having cancelled it) when *stop* is set first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait([task])
    return None


async def _first_universe(
    settings: CollectorSettings, rest: RestClient, refresh: SymbolRefresh
) -> Universe:
    """Read exchangeInfo, retrying while the exchange cannot be reached or answers nothing
    usable (nothing can be chosen without it)."""
    backoff = settings.retry_policy().backoff()
    warned: set[str] = set()
    while True:
        try:
            return await rest.universe()
        except FrameError as exc:
            refresh.count("unusable")
            if "unusable" not in warned:
                log.error("exchangeInfo answer unusable (%s); asking again", exc)
                warned.add("unusable")
        except ExchangeError as exc:
            refresh.count("failed")
            if "unreachable" not in warned:
                log.warning(
                    "Binance is unreachable at %s (%s); retrying with backoff. Without "
                    "internet access, run the offline replay with `make demo`.",
                    settings.binance_rest_url,
                    exc,
                )
                warned.add("unreachable")
        await asyncio.sleep(backoff.next())


async def _resume(
    redis: AsyncRedis, keys: RedisKeys, symbols: tuple[str, ...], settings: CollectorSettings
) -> dict[str, int]:
    backoff = settings.retry_policy().backoff()
    warned = ""
    while True:
        try:
            await check_mode_async(redis, settings.redis_cluster)
            return await resume_points(redis, keys, symbols, settings.database_url)
        except ConfigError as exc:  # the wrong mode: waiting cannot cure it, but say so often
            problem = str(exc)
        except REDIS_ERRORS as exc:
            problem = describe(exc)
        if problem != warned:
            log.warning("%s at start; retrying", problem)
            warned = problem
        await asyncio.sleep(backoff.next())


async def _serve(
    collector: Collector,
    redis: AsyncRedis,
    refresh: SymbolRefresh,
    connections: Connections,
    stop: asyncio.Event,
) -> None:
    settings, keys = collector.settings, collector.settings.redis_keys
    publisher = collector.publisher
    flusher = asyncio.create_task(publisher.run(), name="publisher")
    workers = [
        asyncio.create_task(collector.repairer.run(), name="backfill"),
        asyncio.create_task(collector.tickers.watch(), name="tails"),
        asyncio.create_task(collector.tickers.run(), name="tickers"),
        asyncio.create_task(refresh.run(), name="symbols"),
        asyncio.create_task(_upkeep(collector, redis), name="upkeep"),
        asyncio.create_task(connections.run(), name="connections"),
    ]
    if settings.collector_audit_interval_s > 0:
        audit = ScheduledAudit(
            settings,
            lambda: sorted(collector.tracked),
            redis=redis,
            rest=collector.rest,
            metrics=collector.metrics,
        )
        workers.append(asyncio.create_task(audit.run(), name="audit"))
    log.info(
        "collector %s started: %d symbols tracked, %d trading, on %d connections",
        settings.collector_instance,
        len(collector.tracked),
        len(refresh.tracker.trading()),
        len(connections),
    )
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([stopper, flusher, *workers], return_when=asyncio.FIRST_COMPLETED)
    for task in workers:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())
    log.info("stopping: closing connections and flushing %d entries", len(publisher))
    await _cancel_all(workers)
    publisher.stop()
    try:
        await asyncio.wait_for(flusher, STOP_FLUSH_TIMEOUT_S)
    except TimeoutError:
        log.error("Redis did not take the last %d entries in time", len(publisher))
    stopper.cancel()
    with contextlib.suppress(*REDIS_ERRORS):
        await redis.delete(keys.heartbeat("collector", settings.collector_instance))
    log.info("stopped: %s", collector.summary())


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel *tasks* and wait for them, boundedly: re-cancel any that swallowed a cancel."""
    pending = set(tasks)
    for _ in range(3):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_TASKS_TIMEOUT_S)
        if not pending:
            return
        log.warning(
            "tasks %s still running after a cancel; cancelling again",
            sorted(t.get_name() for t in pending),
        )
    log.error(
        "tasks %s would not stop; stopping without them", sorted(t.get_name() for t in pending)
    )


async def _upkeep(collector: Collector, redis: AsyncRedis) -> None:
    """The periodic upkeep: refresh the heartbeat, sync metrics, log the summary."""
    settings = collector.settings
    ttl = settings.collector_heartbeat_ttl_s
    key = settings.redis_keys.heartbeat("collector", settings.collector_instance)
    next_summary = time.monotonic() + settings.collector_summary_interval_s
    while True:
        collector.sync_metrics()
        try:
            await redis.set(key, beat_value(collector.beat()), ex=max(1, int(ttl)))
        except REDIS_ERRORS as exc:
            log.debug("heartbeat not written: %s", describe(exc))
        if time.monotonic() >= next_summary:
            log.info("summary: %s", collector.summary())
            next_summary += settings.collector_summary_interval_s
        await asyncio.sleep(min(1.0, ttl / 3))


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
