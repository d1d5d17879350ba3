"""Everything about trades that went missing: finding them, repairing them, and never
resuming past them.

The live capture's parts, built by :class:`~tickvault_collector.collector.Collector`:

- :class:`Sequencer` (``sequencer.py``): per-symbol id continuity, duplicate / next / gap.
- :class:`LiveGaps` (``live.py``): positions, open gaps (:class:`GapBook`, ``book.py``), the
  runs a full buffer dropped and the :class:`ResumeMarks` (``marks.py``); opens every gap.
- :class:`TickerCheck` (``ticker_check.py``, with :class:`Tails` of ``tails.py``): the
  tickers' latest ids against capture, turned into ``tail`` gaps.
- :class:`Repairer` (``repair.py``, pages by :class:`PageFetcher` of ``pages.py``): the
  backfill from ``historicalTrades``, most urgent gap first.
- :class:`StreamLoss` (``stream_loss.py``, a :class:`Ledger` per shard of ``ledger.py``):
  refills what Redis lost before the writers stored it.
- ``resume.py``: where each symbol resumes (:func:`resume_points`); ``stored.py``: the gaps
  PostgreSQL holds open (:class:`StoredGap`, one query).

The audit of what PostgreSQL holds: :class:`Auditor` (``audit.py``, planned by
``audit_plan.py``), :func:`audit_once` (``--audit-once``, ``audit_once.py``) and the
:class:`ScheduledAudit` of a running collector (``audit_schedule.py``).
"""

from tickvault.rest.book import Gap, GapBook
from tickvault.rest.pages import PageFetcher
from tickvault_collector.gaps.audit import Auditor, AuditStopped, SymbolReport, audit_lease
from tickvault_collector.gaps.audit_once import audit_once
from tickvault_collector.gaps.audit_schedule import ScheduledAudit
from tickvault_collector.gaps.ledger import Ledger
from tickvault_collector.gaps.live import LiveGaps
from tickvault_collector.gaps.marks import ResumeMarks
from tickvault_collector.gaps.repair import Repairer
from tickvault_collector.gaps.resume import resume_points
from tickvault_collector.gaps.sequencer import DUPLICATE, GAP, Sequencer
from tickvault_collector.gaps.stored import StoredGap, collector_gaps, read_open
from tickvault_collector.gaps.stream_loss import StreamLoss
from tickvault_collector.gaps.tails import FeedClock, Tails
from tickvault_collector.gaps.ticker_check import TickerCheck

__all__ = [
    "DUPLICATE",
    "GAP",
    "AuditStopped",
    "Auditor",
    "FeedClock",
    "Gap",
    "GapBook",
    "Ledger",
    "LiveGaps",
    "PageFetcher",
    "Repairer",
    "ResumeMarks",
    "ScheduledAudit",
    "Sequencer",
    "StoredGap",
    "StreamLoss",
    "SymbolReport",
    "Tails",
    "TickerCheck",
    "audit_lease",
    "audit_once",
    "collector_gaps",
    "read_open",
    "resume_points",
]
