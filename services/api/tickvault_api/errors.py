"""The API's error values and the JSON envelope every error response uses.

::

    TickvaultError (tickvault.errors)
    └── ApiError                        carries the HTTP status and the docs/API.md error code
        ├── InvalidParameter   400      ``invalid_parameter``
        ├── InvalidTime        400      ``invalid_time``
        ├── InvalidRange       400      ``invalid_range`` (start not before end)
        ├── RangeTooLarge      400      ``range_too_large``
        ├── UnknownSymbol      404      ``unknown_symbol`` (the message names a few tracked ones)
        ├── NoData             404      ``no_data``
        ├── TooBusy            429      ``too_busy`` (a per-process limit; ``Retry-After`` set)
        └── Unavailable        503      ``unavailable`` (a backing store is down)

Unknown paths and methods (404 ``not_found``, 405 ``method_not_allowed``) are werkzeug's own
exceptions, answered with the same envelope by the app's error handler; any other exception
is a bug, logged and answered 500 ``internal_error``.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from tickvault.errors import TickvaultError

LISTED_SYMBOLS = 20  # an unknown_symbol message names at most this many tracked symbols


class ApiError(TickvaultError):
    """An error answered to the client as ``{"error": {"code", "message"}}``."""

    status = 400
    code = "invalid_parameter"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> bytes:
        """Return the JSON envelope of this error."""
        return envelope(self.code, self.message)


class InvalidParameter(ApiError):
    """A parameter is missing, malformed or out of bounds."""


class InvalidTime(ApiError):
    """A time parameter is neither ISO 8601 nor epoch milliseconds in the accepted span."""

    code = "invalid_time"


class InvalidRange(ApiError):
    """The start of a window is not before its end."""

    code = "invalid_range"


class RangeTooLarge(ApiError):
    """A window is wider than the configured maximum."""

    code = "range_too_large"


class UnknownSymbol(ApiError):
    """The symbol is not tracked."""

    status = 404
    code = "unknown_symbol"

    def __init__(self, symbol: str, tracked: Sequence[str]) -> None:
        shown = symbol if len(symbol) <= 40 else symbol[:40] + "…"
        if len(tracked) <= LISTED_SYMBOLS:
            which = f"tracked symbols: {', '.join(tracked)}"
        else:
            first = ", ".join(tracked[:LISTED_SYMBOLS])
            which = f"{len(tracked)} are tracked ({first}, …): GET /api/v1/symbols lists them"
        super().__init__(f"symbol {shown!r} is not tracked; {which}")


class NoData(ApiError):
    """The symbol is tracked but nothing qualifies."""

    status = 404
    code = "no_data"


class TooBusy(ApiError):
    """A per-process limit (live streams, CSV exports) is reached; try again later."""

    status = 429
    code = "too_busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ApiError):
    """Redis or PostgreSQL cannot answer right now."""

    status = 503
    code = "unavailable"


def envelope(code: str, message: str) -> bytes:
    """Return the JSON error envelope."""
    return msgspec.json.encode({"error": {"code": code, "message": message}})
