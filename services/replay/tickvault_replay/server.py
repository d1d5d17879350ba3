"""Assemble one replay exchange from its config: the market, its source and the limit books."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from tickvault_replay import loader
from tickvault_replay.config import ReplayConfig
from tickvault_replay.faults import Fault, parse_script
from tickvault_replay.market import Market
from tickvault_replay.model import Event
from tickvault_replay.ratelimit import AttemptBook, WeightBook
from tickvault_replay.store import TradeStore
from tickvault_replay.symbols import SymbolSpec, spec_for
from tickvault_replay.synthetic import synthetic_events

log = logging.getLogger(__name__)


def _source(config: ReplayConfig) -> tuple[Iterator[Event], list[str], set[str], bool]:
    if config.recordings:
        rec = loader.load(list(config.recordings))
        streams = {e.stream for e in rec.events}
        return loader.passes(rec, config.loop), list(rec.symbols), streams, not config.loop
    symbols = list(dict.fromkeys(s.strip().upper() for s in config.synthetic if s.strip()))
    start_us = int(time.time() * 1e6)
    events = synthetic_events(symbols, config.seed, config.rate, start_us, config.first_id)
    streams = {
        f"{s.lower()}@{kind}" for s in symbols for kind in ("trade", "aggTrade", "bookTicker")
    }
    return events, symbols, streams, False


class ReplayServer:
    """Everything the routes share: config, market, symbol specs and the rate-limit books."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self.limits = config.limits
        source, symbols, streams, finite = _source(config)
        self.store = TradeStore(config.retention)
        self.market = Market(
            source,
            symbols=symbols,
            streams=streams,
            speed=config.speed,
            store=self.store,
            lifetime_s=config.limits.lifetime_s,
            finite=finite,
            hold_until_subscribed=bool(config.recordings) and not config.start_now,
        )
        self.specs: dict[str, SymbolSpec] = {s: spec_for(s) for s in symbols}
        self.weights = WeightBook(
            config.limits.rest_weight_limit, config.limits.rest_window_s, config.limits.ban_s
        )
        self.attempts = AttemptBook(config.limits.max_connects, config.limits.connect_window_s)

    def initial_faults(self) -> list[Fault]:
        """Return the faults of ``--faults FILE`` (none without it)."""
        if not self.config.faults_file:
            return []
        return parse_script(Path(self.config.faults_file).read_bytes())
