"""The collector's REST client: the shared paced client plus exchangeInfo and ticker/24hr.

The pacing, retries and ``historicalTrades`` live in :mod:`tickvault.rest.client`; this adds
what only the collector asks for (the universe and the tickers) and its budget from
:class:`~tickvault_collector.settings.CollectorSettings`.
"""

from __future__ import annotations

from tickvault.rest.client import PAGE_RETRY, ExchangeRest
from tickvault.rest.schedule import Priority
from tickvault_collector.metrics import Metrics
from tickvault_collector.settings import CollectorSettings
from tickvault_collector.tickers import Tickers, parse_rest_tickers
from tickvault_collector.universe import Universe, parse_universe

__all__ = ["PAGE_RETRY", "RestClient"]

W_EXCHANGE_INFO = 20
W_TICKERS = 80  # ticker/24hr without a symbol


class RestClient(ExchangeRest):
    """The shared REST client with the collector's own endpoints."""

    @classmethod
    def from_settings(cls, settings: CollectorSettings, metrics: Metrics) -> RestClient:
        """Return the client of *settings*' REST URL, scheduled within the weight budget and
        counted in *metrics*."""
        return cls.budgeted(
            settings.binance_rest_url,
            settings.collector_rest_weight_limit,
            settings.collector_rest_weight_share,
            on_request=lambda path, status: metrics.backfill_requests.labels(path, status).inc(),
            backoff_max=settings.collector_backoff_max_s,
        )

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
