"""How a tickvault service makes its Prometheus metrics: one line per metric.

Every metric is named ``tickvault_<service>_<name>`` (a counter's exposition adds
``_total``) and lives on the service's own registry, so a test can run several services in
one process without their metrics colliding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# how the API's worker processes combine a gauge (prometheus_client's multiprocess modes)
GaugeMode = Literal["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum"]


@dataclass(frozen=True)
class MetricFactory:
    """Makes the metrics of *service* on *registry* (a fresh one by default)."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def counter(self, name: str, doc: str, *labels: str) -> Counter:
        """Return the counter ``tickvault_<service>_<name>``, by *labels* when given."""
        return Counter(self._name(name), doc, labels, registry=self.registry)

    def gauge(self, name: str, doc: str, *labels: str, mode: GaugeMode = "all") -> Gauge:
        """Return the gauge ``tickvault_<service>_<name>``; *mode* combines worker processes."""
        return Gauge(self._name(name), doc, labels, registry=self.registry, multiprocess_mode=mode)

    def histogram(self, name: str, doc: str, buckets: Sequence[float], *labels: str) -> Histogram:
        """Return the histogram ``tickvault_<service>_<name>`` with *buckets* (seconds, sizes)."""
        return Histogram(self._name(name), doc, labels, registry=self.registry, buckets=buckets)

    def _name(self, name: str) -> str:
        return f"tickvault_{self.service}_{name}"
