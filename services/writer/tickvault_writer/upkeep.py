"""The writer's upkeep between batches: heartbeat, claims of abandoned entries, stream gauges,
the summary line."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tickvault.redisconn import REDIS_ERRORS, describe
from tickvault.throttle import Throttle, ThrottledLog
from tickvault_writer.metrics import WriterMetrics
from tickvault_writer.settings import WriterSettings
from tickvault_writer.stream import ShardReaders

log = logging.getLogger(__name__)


@dataclass
class Totals:
    """Running totals of one writer process (for the summary line and the heartbeat)."""

    entries: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead: int = 0
    gaps: int = 0
    batches: int = 0


@dataclass(eq=False)
class Upkeep:
    """Runs whichever upkeep task is due; a Redis failure here only logs."""

    _settings: WriterSettings
    _reader: ShardReaders
    _metrics: WriterMetrics
    _totals: Totals
    _clock: Callable[[], float] = time.monotonic
    pending: int = field(default=0, init=False)
    lag: int | None = field(default=None, init=False)
    _deleted: int = field(default=0, init=False)  # deleted entries already counted

    def __post_init__(self) -> None:
        s, clock = self._settings, self._clock
        self._key = s.redis_keys.heartbeat("writer", self._reader.consumer)
        self._heartbeat, self._claim, self._gauges, self._summary = (
            Throttle(interval, clock=clock)
            for interval in (
                s.writer_heartbeat_interval_s,
                min(30.0, max(0.05, s.writer_claim_idle_ms / 2000)),
                5.0,
                s.writer_summary_interval_s,
            )
        )
        self._warn = ThrottledLog(log, 10.0, clock=clock)
        self._last_summary: tuple[float, int] | None = None

    def run_due(self) -> None:
        """Run the upkeep tasks that are due."""
        try:
            if self._heartbeat.due():
                self.beat()
            if self._claim.due():
                self._reader.claim_abandoned()
            if self._gauges.due():
                self.refresh_gauges()
        except REDIS_ERRORS as exc:
            self._warn.warning("Redis upkeep failed (%s); will retry", describe(exc))
        if self._summary.due():
            self.summarise()

    def beat(self) -> None:
        """Refresh this replica's heartbeat key."""
        value = msgspec.json.encode(
            {
                "consumer": self._reader.consumer,
                "pid": os.getpid(),
                "time": time.time(),
                "inserted": self._totals.inserted,
            }
        )
        ttl_ms = int(self._settings.writer_heartbeat_ttl_s * 1000)
        self._reader.client.set(self._key, value, px=ttl_ms)

    def clear_heartbeat(self) -> None:
        """Delete the heartbeat key (on a clean exit)."""
        with contextlib.suppress(*REDIS_ERRORS):
            self._reader.client.delete(self._key)

    def refresh_gauges(self) -> None:
        """Read the group's pending count and lag into the gauges."""
        self.pending, self.lag = self._reader.group_info()
        if self._reader.deleted > self._deleted:
            self._metrics.deleted_entries.inc(self._reader.deleted - self._deleted)
            self._deleted = self._reader.deleted
        self._metrics.pending.set(self.pending)
        if self.lag is not None:
            self._metrics.lag.set(self.lag)

    def summarise(self) -> None:
        """Log one line: rows/s since the last one, duplicates, dead letters, pending, lag."""
        now, inserted = self._clock(), self._totals.inserted
        if self._last_summary is not None:
            then, before = self._last_summary
            rate = (inserted - before) / max(now - then, 1e-9)
            t = self._totals
            log.info(
                "%.0f rows/s; totals: %d inserted, %d duplicates, %d dead-lettered, %d gap "
                "records, %d batches; pending %d, lag %s",
                rate,
                t.inserted,
                t.duplicates,
                t.dead,
                t.gaps,
                t.batches,
                self.pending,
                "?" if self.lag is None else self.lag,
            )
        self._last_summary = (now, inserted)
