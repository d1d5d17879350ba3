"""The tickvault exception hierarchy, shared by every service.

::

    TickvaultError
    ├── ConfigError            bad configuration; the process exits with status 2
    ├── CodecError             a stream entry that cannot be decoded (dead-lettered)
    ├── FrameError             a Binance frame that cannot be parsed (counted, never fatal)
    ├── ExchangeError          Binance (or the replay exchange) answered with an error
    │   ├── RateLimited        HTTP 429/418; ``retry_after`` seconds to wait
    │   └── UnknownSymbol      exchangeInfo does not list a requested symbol
    ├── StoreUnavailable       Redis or PostgreSQL cannot be reached right now
    └── LeaseLost              a lease expired or passed on while its work ran (work stopped)
"""

from __future__ import annotations


class TickvaultError(Exception):
    """Base class of every error tickvault raises on purpose."""


class ConfigError(TickvaultError):
    """Configuration is invalid; the message names the variable."""


class CodecError(TickvaultError):
    """A Redis Stream entry does not hold a valid tick or gap record."""


class FrameError(TickvaultError):
    """A WebSocket frame is not a valid Binance payload."""


class ExchangeError(TickvaultError):
    """The exchange answered a request with an error."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RateLimited(ExchangeError):
    """The exchange asked us to slow down (HTTP 429) or banned us for a while (HTTP 418)."""

    def __init__(self, message: str, *, status: int, retry_after: float) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class UnknownSymbol(ExchangeError):
    """A configured symbol is not listed by the exchange."""


class StoreUnavailable(TickvaultError):
    """A backing store (Redis or PostgreSQL) cannot be reached."""


class LeaseLost(TickvaultError):
    """A lease could not be kept while its work ran; the work was stopped."""
