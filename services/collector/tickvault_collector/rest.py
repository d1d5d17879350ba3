"""The collector's REST client (aiohttp): exchangeInfo, ticker/24hr, historicalTrades.

Every request waits for its turn in the :class:`~tickvault_collector.schedule.RestScheduler`
(backfill first, all within the weight budget), asks for microsecond times
(``X-MBX-TIME-UNIT``), holds every request after a 429/418 for its ``Retry-After``, and
retries 5xx and network failures under a :class:`~tickvault.retry.RetryPolicy`. 4xx answers
other than 429/418 raise :class:`~tickvault.errors.ExchangeError` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from tickvault.errors import ExchangeError, FrameError
from tickvault.retry import RetryPolicy
from tickvault.tick import Tick
from tickvault_collector.metrics import Metrics
from tickvault_collector.restparse import PAGE, WeightGate, parse_error, parse_trades
from tickvault_collector.schedule import Priority, RestScheduler
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.tickers import Tickers, parse_rest_tickers
from tickvault_collector.universe import Universe, parse_universe

log = logging.getLogger(__name__)

W_TRADES = 25
W_EXCHANGE_INFO = 20
W_TICKERS = 80  # ticker/24hr without a symbol
# Between failed or empty pages of a refill (each page already retried its own request).
PAGE_RETRY = RetryPolicy(0.5, 5.0)


class RestClient:
    """A paced, retrying client of the Binance REST endpoints the collector uses."""

    def __init__(
        self,
        base_url: str,
        scheduler: RestScheduler,
        *,
        on_request: Callable[[str, int], None] | None = None,
        backoff_max: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self.scheduler = scheduler
        self._on_request = on_request or (lambda path, status: None)
        # REST answers Retry-After to the second: honour it as sent (60 s when absent).
        self._retry = RetryPolicy(0.5, backoff_max, limited_default=60.0, limited_floor=1.0)
        self._session = session
        self._own_session = session is None

    @classmethod
    def from_settings(cls, settings: CollectorSettings, metrics: Metrics) -> RestClient:
        """Return the client of *settings*' REST URL, scheduled within the weight budget and
        counted in *metrics*."""
        gate = WeightGate(
            settings.collector_rest_weight_limit, settings.collector_rest_weight_share
        )
        return cls(
            settings.binance_rest_url,
            RestScheduler(gate),
            on_request=lambda path, status: metrics.backfill_requests.labels(path, status).inc(),
            backoff_max=settings.collector_backoff_max_s,
        )

    async def close(self) -> None:
        """Close the HTTP session if this client made it."""
        if self._session is not None and self._own_session:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"X-MBX-TIME-UNIT": "MICROSECOND"},
                timeout=aiohttp.ClientTimeout(total=20),
            )
        return self._session

    async def get(
        self,
        path: str,
        params: dict[str, Any],
        weight: int,
        priority: Priority,
        *,
        attempts: int | None = None,
    ) -> bytes:
        """GET *path* when the scheduler allows; return the body of a 200, retrying what is
        transient (at most *attempts* tries when given)."""
        backoff, tried = self._retry.backoff(), 0
        while True:
            await self.scheduler.acquire(weight, priority)
            tried += 1
            try:
                status, headers, body = await self._fetch(path, params)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempts is not None and tried >= attempts:
                    raise ExchangeError(f"GET {path} failed: {exc}") from exc
                delay = backoff.next()
                log.debug("GET %s failed (%s); retrying in %.1fs", path, exc, delay)
                await asyncio.sleep(delay)
                continue
            self._on_request(path, status)
            self.scheduler.observe(headers.get("X-MBX-USED-WEIGHT-1M"))
            if status == 200:
                return body
            if status in (429, 418):
                wait = self._retry.limited_wait(headers.get("Retry-After"))
                log.warning("REST %s answered %d; holding every request %.0fs", path, status, wait)
                self.scheduler.hold(wait)
                continue
            if status >= 500:
                if attempts is not None and tried >= attempts:
                    raise ExchangeError(f"GET {path}: HTTP {status}", status=status)
                await asyncio.sleep(backoff.next())
                continue
            code, msg = parse_error(body)
            raise ExchangeError(f"GET {path}: HTTP {status} {code} {msg}", status=status, code=code)

    async def _fetch(self, path: str, params: dict[str, Any]) -> tuple[int, Any, bytes]:
        async with self._http().get(self._base + path, params=params) as resp:
            return resp.status, resp.headers, await resp.read()

    async def universe(self) -> Universe:
        """Return every symbol the exchange lists with its status (``exchangeInfo``, 20).

        Raise ExchangeError when it cannot answer and BadUniverse when the answer is unusable.
        """
        body = await self.get("/api/v3/exchangeInfo", {}, W_EXCHANGE_INFO, Priority.UNIVERSE)
        return parse_universe(body)

    async def tickers(self, priority: Priority = Priority.TAIL) -> Tickers:
        """Return every trading symbol's first and last trade id of the last 24 h (weight 80).

        Raise ExchangeError when it cannot answer, FrameError when the answer is unreadable.
        """
        params = {"type": "MINI", "symbolStatus": "TRADING"}
        body = await self.get("/api/v3/ticker/24hr", params, W_TICKERS, priority, attempts=3)
        return parse_rest_tickers(body)

    async def historical_trades(
        self,
        symbol: str,
        from_id: int,
        received_at: int,
        priority: Priority = Priority.BACKFILL,
    ) -> list[Tick]:
        """Return up to 1000 trades of *symbol* from *from_id* on, as backfill ticks."""
        params = {"symbol": symbol, "fromId": from_id, "limit": PAGE}
        body = await self.get("/api/v3/historicalTrades", params, W_TRADES, priority, attempts=8)
        try:
            return parse_trades(symbol, body, received_at)
        except FrameError as exc:
            raise ExchangeError(str(exc)) from exc
