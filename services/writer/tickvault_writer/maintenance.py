"""Partition maintenance on a schedule, in one replica at a time, off the ingestion thread.

A daemon thread wakes at start and then every interval, takes the maintenance lease and runs
:func:`tickvault.cold.move.maintain_tiers` (partitions, and with ``TICKVAULT_COLD_URL``
the move of expired days to the cold tier) through its own connections (each partition change
is a short transaction with a lock timeout), so ingestion is never blocked for long.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.pool import NullPool

from tickvault.cold.move import maintain_tiers
from tickvault.db.engine import make_engine
from tickvault.lease import Lease
from tickvault.redisconn import SyncRedis
from tickvault_writer.settings import WriterSettings

log = logging.getLogger(__name__)


class Maintenance:
    """Runs partition maintenance periodically under a Redis lease."""

    def __init__(self, settings: WriterSettings, client: SyncRedis) -> None:
        self._settings = settings
        self._lease = Lease(
            client,
            settings.redis_keys.maintenance_lease,
            settings.writer_maintenance_lease_s,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the maintenance thread (not when the interval is 0)."""
        if self._settings.writer_maintenance_interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait a little for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        interval = self._settings.writer_maintenance_interval_s
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # never let maintenance kill the thread; the next pass retries
                log.exception("partition maintenance failed; retrying in %.0f s", interval)
            self._stop.wait(interval)

    def run_once(self) -> bool:
        """Run one maintenance pass if the lease is free; return whether it ran."""
        if not self._lease.acquire():
            log.debug("maintenance lease held by another replica")
            return False
        engine = make_engine(
            self._settings.database_url,
            application_name="tickvault-writer-maintenance",
            poolclass=NullPool,
        )
        try:
            report, moved = maintain_tiers(engine, self._settings, lease=self._lease)
        finally:
            engine.dispose()
            self._lease.release()
        log.info(
            "partition maintenance: %d created, %d dropped",
            len(report.created),
            len(report.dropped),
        )
        if moved is not None and moved.days:
            log.info(
                "cold tier: %d days moved (%d trades, %d files), %d partitions dropped",
                len(moved.days),
                moved.trades,
                moved.files,
                len(moved.dropped),
            )
        return True
