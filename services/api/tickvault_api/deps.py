"""The API's dependencies in one value, built once per process by ``create_app`` and handed to
every blueprint: settings, stores, caches, limits, metrics, the standby gate and a clock.

Not a Flask context: nothing here is per request."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tickvault_api.cache import ResultCache
from tickvault_api.hub import PriceHub
from tickvault_api.limits import Slots
from tickvault_api.metrics import ApiMetrics
from tickvault_api.settings import ApiSettings
from tickvault_api.standby import StandbyGate
from tickvault_api.stores import Stores
from tickvault_api.tiered import Tiered
from tickvault_api.tracked import Tracked, TrackedSymbols


def wall_clock_us() -> int:
    """Return the current time in epoch microseconds."""
    return time.time_ns() // 1000


@dataclass
class ApiDeps:
    """The collaborators of one app."""

    settings: ApiSettings
    stores: Stores
    cache: ResultCache
    metrics: ApiMetrics
    symbols: TrackedSymbols
    hub: PriceHub
    streams: Slots
    exports: Slots
    standby: StandbyGate
    clock_us: Callable[[], int] = field(default=wall_clock_us)
    tiered: Tiered = field(default_factory=lambda: Tiered(None))  # hot, and cold if set

    @property
    def tracked(self) -> Tracked:
        """Return the tracked symbols (refreshed from Redis at most every few seconds)."""
        return self.symbols.current()
