"""The collector's REST client (aiohttp): exchangeInfo, the latest trade id, historicalTrades.

Every request passes the :class:`~tickvault_collector.restparse.WeightGate`, asks for
microsecond times (``X-MBX-TIME-UNIT``), honours 429/418 ``Retry-After`` and retries 5xx and
network failures under a :class:`~tickvault.retry.RetryPolicy`. 4xx answers other than 429/418 raise
:class:`~tickvault.errors.ExchangeError` at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from tickvault.errors import ExchangeError, FrameError, UnknownSymbol
from tickvault.retry import RetryPolicy
from tickvault.tick import Tick
from tickvault_collector.metrics import Metrics
from tickvault_collector.restparse import (
    WeightGate,
    parse_error,
    parse_exchange_info,
    parse_trades,
)
from tickvault_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

W_TRADES = 25
W_EXCHANGE_INFO = 20
PAGE = 1000
# Between failed or empty pages of a refill (each page already retried its own request).
PAGE_RETRY = RetryPolicy(0.5, 5.0)


class RestClient:
    """A paced, retrying client of the Binance REST endpoints the collector uses."""

    def __init__(
        self,
        base_url: str,
        gate: WeightGate,
        *,
        on_request: Callable[[str, int], None] | None = None,
        backoff_max: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._gate = gate
        self._on_request = on_request or (lambda path, status: None)
        # REST answers Retry-After to the second: honour it as sent (60 s when absent).
        self._retry = RetryPolicy(0.5, backoff_max, limited_default=60.0, limited_floor=1.0)
        self._session = session
        self._own_session = session is None

    @classmethod
    def from_settings(cls, settings: CollectorSettings, metrics: Metrics) -> RestClient:
        """Return the client of *settings*' REST URL, paced and counted in *metrics*."""
        return cls(
            settings.binance_rest_url,
            WeightGate(settings.collector_rest_weight_limit, settings.collector_rest_weight_share),
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
        self, path: str, params: dict[str, Any], weight: int, *, attempts: int | None = None
    ) -> bytes:
        """GET *path*; return the body of a 200, retrying what is transient."""
        backoff, tried = self._retry.backoff(), 0
        while True:
            await self._pace(weight)
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
            self._gate.observe(headers.get("X-MBX-USED-WEIGHT-1M"), time.time())
            if status == 200:
                return body
            if status in (429, 418):
                wait = self._retry.limited_wait(headers.get("Retry-After"))
                log.warning("REST %s answered %d; waiting %.0fs (Retry-After)", path, status, wait)
                await asyncio.sleep(wait)
                continue
            if status >= 500:
                if attempts is not None and tried >= attempts:
                    raise ExchangeError(f"GET {path}: HTTP {status}", status=status)
                await asyncio.sleep(backoff.next())
                continue
            code, msg = parse_error(body)
            raise ExchangeError(f"GET {path}: HTTP {status} {code} {msg}", status=status, code=code)

    async def _pace(self, weight: int) -> None:
        wait = self._gate.delay(weight, time.time())
        if wait > 0:
            log.debug("REST weight budget reached; waiting %.1fs", wait)
            await asyncio.sleep(wait)
        self._gate.spend(weight, time.time())

    async def _fetch(self, path: str, params: dict[str, Any]) -> tuple[int, Any, bytes]:
        async with self._http().get(self._base + path, params=params) as resp:
            return resp.status, resp.headers, await resp.read()

    async def exchange_info(self, symbols: tuple[str, ...]) -> dict[str, str]:
        """Return ``{symbol: status}``; raise UnknownSymbol naming a symbol Binance lacks."""
        try:
            body = await self.get(
                "/api/v3/exchangeInfo",
                {"symbols": orjson.dumps(list(symbols)).decode()},
                W_EXCHANGE_INFO,
            )
        except ExchangeError as exc:
            if exc.code != -1121 and exc.status != 400:
                raise
            await self._find_unknown(symbols)
            raise
        info = parse_exchange_info(body)
        missing = [s for s in symbols if s not in info]
        if missing:
            raise UnknownSymbol(f"unknown symbol {missing[0]}: the exchange does not list it")
        return {s: info[s] for s in symbols}

    async def _find_unknown(self, symbols: tuple[str, ...]) -> None:
        """Ask for each symbol alone to name the one the exchange rejects."""
        for symbol in symbols:
            try:
                await self.get("/api/v3/exchangeInfo", {"symbol": symbol}, W_EXCHANGE_INFO)
            except ExchangeError as exc:
                if exc.code == -1121 or exc.status == 400:
                    raise UnknownSymbol(
                        f"unknown symbol {symbol}: the exchange does not list it"
                    ) from exc
                raise

    async def latest_trade_id(self, symbol: str) -> int | None:
        """Return the id of *symbol*'s most recent trade, or None when it has none."""
        body = await self.get("/api/v3/trades", {"symbol": symbol, "limit": 1}, W_TRADES)
        ticks = parse_trades(symbol, body, 0)
        return ticks[-1].trade_id if ticks else None

    async def historical_trades(self, symbol: str, from_id: int, received_at: int) -> list[Tick]:
        """Return up to 1000 trades of *symbol* from *from_id* on, as backfill ticks."""
        params = {"symbol": symbol, "fromId": from_id, "limit": PAGE}
        body = await self.get("/api/v3/historicalTrades", params, W_TRADES, attempts=8)
        try:
            return parse_trades(symbol, body, received_at)
        except FrameError as exc:
            raise ExchangeError(str(exc)) from exc
