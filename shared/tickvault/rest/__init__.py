"""Binance's REST API as tickvault uses it: one paced, retrying client and its pure parts.

- :mod:`tickvault.rest.client`: :class:`~tickvault.rest.client.ExchangeRest`, every GET within
  the weight budget, 429/418 held for their ``Retry-After``, 5xx and network failures retried;
  ``historicalTrades`` pages.
- :mod:`tickvault.rest.schedule`: the one queue of a process's requests, most urgent first.
- :mod:`tickvault.rest.parse`: trade pages, error bodies and the per-minute weight gate (pure).
- :mod:`tickvault.rest.book`: open gaps of trade ids, and how a page closes them (pure).
- :mod:`tickvault.rest.pages`: :class:`~tickvault.rest.pages.PageFetcher`, the one loop that
  walks ``historicalTrades`` pages over open gaps.

The collector (live gaps, tails, audits) and ``tickvault import`` (archive holes) share it, so
both spend the same budget the same way and repair holes with the same page loop.
"""
