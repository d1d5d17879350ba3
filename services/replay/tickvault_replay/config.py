"""Run-time settings of the replay exchange: the market source, pace and Binance's limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True, slots=True)
class Limits:
    """Binance's connection and request limits; a zero switches that limit off."""

    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    lifetime_s: float = 86400.0
    ws_msg_rate: int = 5
    max_streams: int = 1024
    max_connects: int = 300
    connect_window_s: float = 300.0
    rest_weight_limit: int = 6000
    rest_window_s: float = 60.0
    ban_s: float = 120.0
    strict_ids: bool = False
    strict_pong: bool = False
    # a client message above this many payload bytes gets no answer at all (community
    # reports: binance-connector-rust#27, Binance.Net#974); 4088 + an 8-byte header = 4096
    max_message_bytes: int = 4088

    def without_limits(self) -> Limits:
        """Return these limits with every limit switched off (pings still sent)."""
        return replace(
            self,
            pong_timeout_s=0,
            lifetime_s=0,
            ws_msg_rate=0,
            max_streams=0,
            max_connects=0,
            rest_weight_limit=0,
            max_message_bytes=0,
        )


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Everything ``create_app`` needs; the CLI builds one from its flags."""

    recordings: tuple[str, ...] = ()
    synthetic: tuple[str, ...] = ()
    seed: int = 1
    rate: float = 20.0
    speed: float = 1.0
    loop: bool = False
    host: str = "127.0.0.1"
    port: int = 9443
    faults_file: str | None = None
    port_file: str | None = None
    retention: int = 1_000_000
    first_id: int | None = None  # synthetic: None = from the wall clock (see ``ids``)
    start_now: bool = False  # recordings: start the clock at launch, not at first subscription
    limits: Limits = field(default_factory=Limits)
    market: int = 0  # --synthetic-market N: N symbols with Zipf-like rates
    universe: str | None = None  # names, statuses and filters from a real exchangeInfo
    top_rate: float = 200.0  # the busiest symbol's mean trades per second
    zipf: float = 1.5  # rank k trades at top_rate / k**zipf
    archive_from: date | None = None  # --archive-from: serve the public archive from this day
    archive_rate: float = 0.5  # trades per second of each symbol's archived past

    def __post_init__(self) -> None:
        if sum(map(bool, (self.recordings, self.synthetic, self.market))) != 1:
            raise ValueError(
                "give exactly one market: recordings, synthetic symbols or a synthetic market"
            )
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.market < 0 or self.top_rate <= 0 or self.zipf < 0:
            raise ValueError("the synthetic market needs N >= 1, a top rate > 0 and zipf >= 0")
        if self.universe and not self.market:
            raise ValueError("a universe file goes with --synthetic-market")
        if self.archive_from is not None and not self.synthetic:
            raise ValueError("--archive-from goes with --synthetic SYMBOLS")
        if not 0 < self.archive_rate <= 1_000_000:
            raise ValueError("archive rate must be > 0 and at most 1,000,000 trades/s")
        if self.first_id is not None and self.first_id < 0:
            raise ValueError("first id must be >= 0")
