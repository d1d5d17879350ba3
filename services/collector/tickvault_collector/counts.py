"""The collector's hot-path counters: plain integers, copied into Prometheus once a second.

Every part that counts (the frame path, the gap machinery, the ticker checks) adds to one
:class:`Counts`; :meth:`tickvault_collector.collector.Collector.sync_metrics` moves each
field's delta to the :class:`~tickvault_collector.metrics.Metrics` counter of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class Counts:
    """Hot-path counters (plain ints): each one's deltas go to the Metrics counter of its name."""

    frames: int = 0
    trades: int = 0
    malformed: int = 0
    unknown: int = 0
    duplicates: int = 0
    overflow: int = 0
    gaps_detected: int = 0
    gaps_filled: int = 0
    gaps_unfillable: int = 0
    backfilled: int = 0
    ticker_rows: int = 0
    ticker_bad: int = 0
    tail_gaps: int = 0
    stream_losses: int = 0


COUNT_NAMES = tuple(f.name for f in fields(Counts))
