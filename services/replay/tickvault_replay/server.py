"""Assemble one replay exchange from its config: the symbol list, the market and its source,
the fault injector, the ticker streams and the limit books; and apply listing events."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tickvault.symbols import canonical, stream_symbol
from tickvault_replay import loader
from tickvault_replay.accounting import RestLedger
from tickvault_replay.archive_http import ArchiveFiles
from tickvault_replay.config import ReplayConfig
from tickvault_replay.faults import (
    ConnFault,
    Delist,
    Fault,
    ListingEvent,
    ListSymbol,
    SetStatus,
    parse_script,
)
from tickvault_replay.history import History
from tickvault_replay.ids import first_id_at
from tickvault_replay.injector import FaultInjector
from tickvault_replay.listings import Listings, Status
from tickvault_replay.market import Market
from tickvault_replay.ratelimit import AttemptBook, WeightBook
from tickvault_replay.sources import RecordedSource, Source
from tickvault_replay.store import TradeStore
from tickvault_replay.symbols import UTF8_LISTED, SymbolSpec, spec_for
from tickvault_replay.synthetic import SyntheticSource
from tickvault_replay.tickerfeed import STREAMS as TICKER_STREAMS
from tickvault_replay.tickerfeed import TickerFeed
from tickvault_replay.universe import synthetic_universe, universe_from_file, zipf_rates

log = logging.getLogger(__name__)

UTF8_RATE = 1.0  # trades/s of each UTF-8 name --synthetic lists besides the names given


def symbol_streams(symbol: str) -> list[str]:
    """Return the streams a synthetic symbol is served on."""
    lower = stream_symbol(symbol)
    return [f"{lower}@trade", f"{lower}@aggTrade", f"{lower}@bookTicker"]


def _universe(config: ReplayConfig) -> tuple[list[SymbolSpec], list[float]]:
    if config.market:
        if config.universe:
            specs = universe_from_file(Path(config.universe), config.market, config.seed)
        else:
            specs = synthetic_universe(config.market, config.seed)
        return specs, zipf_rates(len(specs), config.top_rate, config.zipf)
    names = dict.fromkeys(canonical(s) for s in config.synthetic if s.strip())
    # Binance's list may hold UTF-8 names nobody asked for: they are listed too, quieter.
    extra = [s for s in UTF8_LISTED if s not in names]
    specs = [spec_for(s) for s in (*names, *extra)]
    return specs, [config.rate] * len(names) + [UTF8_RATE] * len(extra)


def _histories(config: ReplayConfig, specs: list[SymbolSpec], start_us: int) -> dict[str, History]:
    """Return each synthetic symbol's archived past (none without ``--archive-from``)."""
    if config.archive_from is None:
        return {}
    origin = datetime.combine(config.archive_from, datetime.min.time(), UTC)
    origin_us = int(origin.timestamp()) * 1_000_000
    if origin_us >= start_us:
        raise ValueError("--archive-from must be a day before now")
    period_us = max(1, round(1_000_000 / config.archive_rate))
    first = config.first_id if config.first_id is not None else 1
    histories = {}
    for spec in specs:
        history = History(spec, config.seed, origin_us, first, period_us)
        histories[spec.symbol] = replace(history, end_id=history.first_at(start_us))
    return histories


def _source(
    config: ReplayConfig, listings: Listings
) -> tuple[Source, set[str], dict[str, History]]:
    if config.recordings:
        rec = loader.load(list(config.recordings))
        for symbol in rec.symbols:
            listings.add(spec_for(symbol), Status.TRADING, 0.0)
        source = RecordedSource(loader.passes(rec, config.loop), finite=not config.loop)
        return source, {e.stream for e in rec.events}, {}
    start_us = int(time.time() * 1e6)
    first_id = config.first_id if config.first_id is not None else first_id_at(start_us)
    synthetic = SyntheticSource(config.seed, start_us)
    streams: set[str] = set()
    specs, rates = _universe(config)
    histories = _histories(config, specs, start_us)
    for spec, rate in zip(specs, rates, strict=True):
        status = Status(spec.status)
        listings.add(spec, status, rate)
        # with an archived past, live ids carry on from its last trade
        history = histories.get(spec.symbol)
        first = first_id if history is None else history.end_id
        synthetic.add(spec, rate, first, start_us, trading=status is Status.TRADING)
        streams.update(symbol_streams(spec.symbol))
    return synthetic, streams, histories


class ReplayServer:
    """Everything the routes share: config, listings, market, tickers and the limit books."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.listings = Listings()
        self.source, streams, histories = _source(config, self.listings)
        self.archive = ArchiveFiles(histories)
        self.store = TradeStore(config.retention)
        self.injector = FaultInjector(self)
        self.market = Market(
            config,
            self.source,
            symbols=[item.spec.symbol for item in self.listings],
            streams=streams | set(TICKER_STREAMS),
            store=self.store,
            injector=self.injector,
        )
        self.tickers = TickerFeed(self.market, self.listings)
        self.weights = WeightBook(
            config.limits.rest_weight_limit, config.limits.rest_window_s, config.limits.ban_s
        )
        self.ledger = RestLedger(config.limits.rest_weight_limit, config.limits.rest_window_s)
        self.attempts = AttemptBook(config.limits.max_connects, config.limits.connect_window_s)

    def initial_faults(self) -> list[Fault]:
        """Return the faults of ``--faults FILE`` (none without it)."""
        if not self.config.faults_file:
            return []
        return parse_script(Path(self.config.faults_file).read_bytes())

    # ------------------------------------------------------------ fault target
    def apply_conn_fault(self, fault: ConnFault) -> None:
        """Apply a connection fault to the connections it selects."""
        self.market.apply_conn_fault(fault)

    def set_lifetime(self, seconds: float) -> None:
        """Set the connection lifetime for open and new connections."""
        self.market.set_lifetime(seconds)

    def apply_listing(self, event: ListingEvent) -> str | None:
        """List, relist, delist or change the status of a symbol; return why not, if not."""
        symbol, now_us = event.symbol, self.market.clock_us()
        item = self.listings.known(symbol)
        if isinstance(event, Delist | SetStatus) and (item is None or not item.listed):
            problem = f"{symbol} is not listed"
            log.warning("%s %s: %s", event.__struct_config__.tag, symbol, problem)
            return problem
        if isinstance(event, Delist):
            assert item is not None
            self.listings.delist(item)
            self.source.set_trading(symbol, False, now_us)
            log.info("delisted %s", symbol)
            return None
        status = Status(event.status)
        if item is not None:
            self.listings.relist(item, status)
        else:
            assert isinstance(event, ListSymbol)
            spec = spec_for(symbol, status.value)
            rate = self.config.rate if event.rate is None else event.rate
            first = event.first_id if event.first_id is not None else first_id_at(now_us)
            self.listings.add(spec, status, rate)
            self.source.add(spec, rate, first, now_us, trading=False)
            self.market.add_symbol(symbol, symbol_streams(symbol))
        self.source.set_trading(symbol, status is Status.TRADING, now_us)
        log.info("%s is %s (next trade id %s)", symbol, status, self.source.next_id(symbol))
        return None
