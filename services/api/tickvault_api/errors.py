"""The API's error values and the JSON envelope every error response uses.

::

    ApiError                        carries the HTTP status and the SPEC §4 code
    ├── InvalidParameter   400      ``invalid_parameter``
    ├── InvalidTime        400      ``invalid_time``
    ├── InvalidRange       400      ``invalid_range`` (start not before end)
    ├── RangeTooLarge      400      ``range_too_large``
    ├── UnknownSymbol      404      ``unknown_symbol`` (the message lists tracked symbols)
    ├── NoData             404      ``no_data``
    ├── NotFound           404      ``not_found`` (no such path)
    ├── MethodNotAllowed   405      ``method_not_allowed``
    └── Unavailable        503      ``unavailable`` (a backing store is down)
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from tickvault.errors import TickvaultError


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

    def __init__(self, symbol: str, tracked: Iterable[str]) -> None:
        shown = symbol if len(symbol) <= 40 else symbol[:40] + "…"
        super().__init__(f"symbol {shown!r} is not tracked; tracked symbols: {', '.join(tracked)}")


class NoData(ApiError):
    """The symbol is tracked but nothing qualifies."""

    status = 404
    code = "no_data"


class NotFound(ApiError):
    """No such path."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """The path exists but not with this method."""

    status = 405
    code = "method_not_allowed"


class Unavailable(ApiError):
    """Redis or PostgreSQL cannot answer right now."""

    status = 503
    code = "unavailable"


def envelope(code: str, message: str) -> bytes:
    """Return the JSON error envelope."""
    return orjson.dumps({"error": {"code": code, "message": message}})
