"""The import's Prometheus metrics, served while it runs when ``TICKVAULT_IMPORT_METRICS_PORT``
is set (``tickvault_import_*``).

An import is a command, not a service, so its port is off by default; an operator running a
long import (the whole market takes days) sets it to watch the run like the other services:
``repair_calls_queued`` is the REST backlog of its holes (``historicalTrades`` calls still to
make, as the collector's gauge of the same name), ``rest_requests`` counts every answer by
status (429 and 418 included), and the files and trades say how far it got.
"""

from __future__ import annotations

from tickvault.metrics import MetricSet, counter, gauge


class ImportMetrics(MetricSet):
    """Counters and gauges of one ``tickvault import`` run."""

    service = "import"

    files = counter("Archive files done, by outcome (imported, skipped, missing, ...)", "outcome")
    trades = counter("Archive trades read and stored (new or already stored)")
    repaired = counter("Trades repaired from REST historicalTrades", name="repaired_trades")
    holes = counter("Holes in the archive's ids, by final status", "status")
    repair_calls = gauge(
        "historicalTrades calls the import's open holes still need", name="repair_calls_queued"
    )
    rest_requests = counter("REST requests by path and status", "path", "status")
