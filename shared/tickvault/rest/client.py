"""The REST client every process of tickvault uses (aiohttp): paced, retrying, counted.

Every request waits for its turn in the :class:`~tickvault.rest.schedule.RestScheduler`
(most urgent first, all within the weight budget), asks for microsecond times
(``X-MBX-TIME-UNIT``), holds every request after a 429/418 for its ``Retry-After``, and
retries 5xx and network failures under a :class:`~tickvault.retry.RetryPolicy`. 4xx answers
other than 429/418 raise :class:`~tickvault.errors.ExchangeError` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Self

import aiohttp

from tickvault.errors import ExchangeError, FrameError
from tickvault.rest.parse import WeightGate, parse_error, parse_trades
from tickvault.rest.schedule import Priority, RestScheduler
from tickvault.retry import RetryPolicy
from tickvault.tick import Tick

log = logging.getLogger(__name__)

PAGE = 1000  # trades per historicalTrades call
W_TRADES = 25
# Between failed or empty pages of a refill (each page already retried its own request).
PAGE_RETRY = RetryPolicy(0.5, 5.0)


class ExchangeRest:
    """A paced, retrying client of Binance's REST endpoints."""

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
    def budgeted(
        cls,
        base_url: str,
        weight_limit: int,
        weight_share: float,
        *,
        on_request: Callable[[str, int], None] | None = None,
        backoff_max: float = 30.0,
    ) -> Self:
        """Return a client of *base_url* spending at most *weight_share* of *weight_limit*."""
        gate = WeightGate(weight_limit, weight_share)
        return cls(base_url, RestScheduler(gate), on_request=on_request, backoff_max=backoff_max)

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
