"""How a tickvault service declares its Prometheus metrics: one class attribute per metric.

A service's metrics are a :class:`MetricSet` subclass whose class attributes are made with
:func:`counter`, :func:`gauge` and :func:`histogram`; each instance makes every declared
metric, in declaration order, on a registry of its own, so a test can run several services in
one process without their metrics colliding. A metric is named ``tickvault_<service>_<name>``
(a counter's exposition adds ``_total``), ``<name>`` being the attribute's unless given::

    class WriterMetrics(MetricSet):
        service = "writer"
        rows_inserted = counter("Trades inserted into PostgreSQL")
        gaps = counter("Gap records upserted", name="gap_records")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# how the API's worker processes combine a gauge (prometheus_client's multiprocess modes)
GaugeMode = Literal["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum"]

M = TypeVar("M", Counter, Gauge, Histogram)


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


class MetricSpec(Generic[M]):
    """One metric declared on a :class:`MetricSet`; its instances hold the metric itself."""

    def __init__(self, make: Callable[[MetricFactory, str], M], name: str | None) -> None:
        self._make: Callable[[MetricFactory, str], M] = make
        self.name = name or ""  # the attribute's name once the class is made, unless given

    def __set_name__(self, owner: type, attr: str) -> None:
        self.name = self.name or attr

    def make(self, factory: MetricFactory) -> M:
        """Make this metric with *factory*."""
        return self._make(factory, self.name)

    if TYPE_CHECKING:  # tells the type checker what a MetricSet instance's attribute holds

        def __get__(self, obj: MetricSet, owner: type) -> M: ...


def counter(doc: str, *labels: str, name: str | None = None) -> MetricSpec[Counter]:
    """Declare a counter, by *labels* when given."""
    return MetricSpec(lambda m, n: m.counter(n, doc, *labels), name)


def gauge(
    doc: str, *labels: str, name: str | None = None, mode: GaugeMode = "all"
) -> MetricSpec[Gauge]:
    """Declare a gauge; *mode* says how the API's worker processes combine it."""
    return MetricSpec(lambda m, n: m.gauge(n, doc, *labels, mode=mode), name)


def histogram(
    doc: str, buckets: Sequence[float], *labels: str, name: str | None = None
) -> MetricSpec[Histogram]:
    """Declare a histogram with *buckets* (seconds, sizes)."""
    return MetricSpec(lambda m, n: m.histogram(n, doc, buckets, *labels), name)


class MetricSet:
    """The metrics of one service, declared as class attributes, made by each instance."""

    service: ClassVar[str]
    _specs: ClassVar[dict[str, MetricSpec[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = {attr: s for attr, s in vars(cls).items() if isinstance(s, MetricSpec)}
        for attr in own:  # the instances hold plain attributes: as fast to read as any
            delattr(cls, attr)
        cls._specs = {**cls._specs, **own}  # a subclass adds to its base's metrics

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        factory = MetricFactory(self.service, registry or CollectorRegistry())
        self.registry = factory.registry
        for attr, spec in self._specs.items():
            setattr(self, attr, spec.make(factory))

    def serve(self, port: int, addr: str = "0.0.0.0") -> bool:
        """Expose the metrics over HTTP on *port* (0 disables); return whether it listens.

        A busy port is logged, never fatal: the service's work goes on without its metrics.
        """
        if port == 0:
            return False
        try:
            start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:
            log.warning("metrics not served: cannot listen on %s:%d (%s)", addr, port, exc)
            return False
        log.info("metrics on http://%s:%d/metrics", addr, port)
        return True
