"""Marshmallow schemas that describe parameters and bodies in the generated OpenAPI document.

They document and validate the *shape* of query strings (strings, enumerations); the
meaning (times, windows, symbols) is checked by :mod:`tickvault_api.params`, which raises
the error codes of docs/API.md. Response bodies are built by :mod:`tickvault_api.responses` and
described here, so ``/openapi.json`` and the answers cannot drift apart unnoticed (the
schemathesis test checks every response against these).
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from tickvault.symbols import Status
from tickvault_api.params import (
    FORMATS,
    INTERVALS_US,
    LIMIT_PATTERN,
    MATCHES,
    MINUTE_PATTERN,
    TIME_PATTERN,
)

TIME_DOC = (
    "ISO 8601 (with Z or an offset; none means UTC) or integer epoch milliseconds; a time "
    "before 2009 or after 2100 is taken as 2009-01-01 or 2100-01-01"
)


SYMBOL_PARAM = {
    "in": "path",
    "name": "symbol",
    "required": True,
    "description": (
        "a tracked symbol, percent-encoded UTF-8 in the path; ASCII letters in any case, "
        "every other character as listed"
    ),
    "schema": {"type": "string", "minLength": 1},
    "example": "BTCUSDT",
}


class _Query(Schema):
    """A query string: unknown parameters are ignored, and an empty value (``?limit=``) is
    the same as leaving the parameter out (a required one is then missing: 400)."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _drop_empty(self, data: Any, **_: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v != ""}


def _optional(pattern: str) -> str:
    """Return *pattern* (``^…$``) that an empty value matches too (it means: left out)."""
    return f"^(?:{pattern[1:-1]})?$"


def _choice(values: tuple[str, ...] | list[str], default: str) -> fields.String:
    """An optional enumerated parameter; empty (like left out) means *default*."""
    return fields.String(load_default=default, validate=validate.OneOf([*values, ""]))


def _time(
    description: str = TIME_DOC, required: bool = False, example: str = "2024-08-09T00:00:00Z"
) -> fields.String:
    return fields.String(
        required=required,
        validate=validate.Length(min=1) if required else None,
        metadata={
            "description": description,
            "example": example,
            "pattern": TIME_PATTERN if required else _optional(TIME_PATTERN),
        },
    )


def _dec(description: str, nullable: bool = False) -> fields.String:
    return fields.String(
        required=True,
        allow_none=nullable,
        metadata={"description": description + " (exact decimal string)"},
    )


def _int() -> fields.Integer:
    return fields.Integer(required=True)


def _symbol_body(name: str, body: dict[str, fields.Field[Any]]) -> type[Schema]:
    """Return the schema *name* of a body about one symbol: ``symbol``, then *body*."""
    return Schema.from_dict({"symbol": fields.String(required=True), **body}, name=name)


def _times(name: str, nullable: bool = False) -> dict[str, fields.Field[Any]]:
    return {
        name: fields.String(
            required=True, allow_none=nullable, metadata={"description": "ISO 8601 UTC, ms, Z"}
        ),
        f"{name}_ms": fields.Integer(
            required=True, allow_none=nullable, metadata={"description": "epoch milliseconds"}
        ),
    }


class AtQuery(_Query):
    time = _time("the second asked about: " + TIME_DOC, required=True)
    match = _choice(MATCHES, "before")


_OPEN_START = "; left out: from the earliest trade retained"
_OPEN_END = "; left out: to the latest trade"


class WindowQuery(_Query):
    """A window both of whose ends must be given."""

    start = _time("window start (inclusive): " + TIME_DOC, True, "2024-08-08T23:59:00Z")
    end = _time("window end (exclusive): " + TIME_DOC, True, "2024-08-09T00:02:00Z")


class OpenWindowQuery(_Query):
    """A window either of whose ends may be left out (that side is then unbounded)."""

    start = _time(
        "window start (inclusive): " + TIME_DOC + _OPEN_START, False, "2024-08-08T23:59:00Z"
    )
    end = _time("window end (exclusive): " + TIME_DOC + _OPEN_END, False, "2024-08-09T00:02:00Z")


class HistoryQuery(WindowQuery):
    limit = fields.String(
        metadata={
            "description": "page size (default 1000); above the maximum: the maximum",
            "pattern": _optional(LIMIT_PATTERN),
        }
    )
    cursor = fields.String(metadata={"description": "next_cursor of the previous page"})
    format = _choice(FORMATS, "json")


class RangeQuery(OpenWindowQuery):
    minute = fields.String(
        metadata={
            "description": (
                "a UTC minute, YYYY-MM-DDTHH:MM: the window of that minute, whose start or "
                "end a start or end given with it replaces"
            ),
            "example": "2024-08-09T00:01",
            "pattern": _optional(MINUTE_PATTERN),
        }
    )


class CandlesQuery(WindowQuery):
    interval = _choice(tuple(INTERVALS_US), "1m")


class StreamQuery(_Query):
    symbols = fields.String(
        metadata={"description": "comma-separated tracked symbols; default: every one"}
    )


class GapsQuery(_Query):
    symbol = fields.String(metadata={"description": "only this symbol's gaps"})


class ErrorDetail(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class ErrorBody(Schema):
    error = fields.Nested(ErrorDetail, required=True)


SymbolInfo = _symbol_body(
    "SymbolInfo",
    {
        "has_data": fields.Boolean(required=True),
        "status": fields.String(
            required=True,
            allow_none=True,
            validate=validate.OneOf([s.value for s in Status]),
            metadata={"description": "as the collector reports it; null until it has"},
        ),
        **_times("status_since", True),
    },
)


class UnsupportedName(Schema):
    symbol = fields.String(required=True, metadata={"description": "the name as listed"})
    reason = fields.String(required=True, metadata={"description": "why it cannot be stored"})


class SymbolsBody(Schema):
    symbols = fields.List(fields.Nested(SymbolInfo), required=True)
    unsupported = fields.List(
        fields.Nested(UnsupportedName),
        required=True,
        metadata={"description": "listed names TICKVAULT_SYMBOLS matches that cannot be stored"},
    )


# Describes tickvault.codec.latest_json, the one builder of this body (REST, streams, CLI).
LatestBody = _symbol_body(
    "LatestBody",
    {
        "price": _dec("trade price"),
        "quantity": _dec("trade quantity"),
        "trade_id": _int(),
        **_times("trade_time"),
        "age_ms": _int(),
    },
)


class LatestAllBody(Schema):
    prices = fields.List(fields.Nested(LatestBody), required=True)


AtBody = _symbol_body(
    "AtBody",
    {
        **_times("requested"),
        "price": _dec("price in force"),
        "trade_id": _int(),
        **_times("trade_time"),
        "in_second": fields.Boolean(required=True),
    },
)

TradeItem = Schema.from_dict(
    {
        "trade_id": _int(),
        "price": _dec("price"),
        "quantity": _dec("quantity"),
        **_times("trade_time"),
        "is_buyer_maker": fields.Boolean(required=True),
    },
    name="TradeItem",
)


class HistoryBody(Schema):
    symbol = fields.String(required=True)
    trades = fields.List(fields.Nested(TradeItem), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


_WINDOW = {**_times("start", True), **_times("end", True)}

RangeBody = _symbol_body(
    "RangeBody",
    {
        **_WINDOW,
        "high": _dec("highest price", True),
        **_times("high_time", True),
        "low": _dec("lowest price", True),
        **_times("low_time", True),
        "open": _dec("first price", True),
        "close": _dec("last price", True),
        "trades": _int(),
        "volume": _dec("sum of quantities", True),
    },
)

StatsBody = _symbol_body(
    "StatsBody",
    {
        **_WINDOW,
        "count": _int(),
        "mean": _dec("mean price, 10 decimals, half-even", True),
        "median": _dec("median price (mean of the two middle ones for an even count)", True),
        "stddev": _dec("sample standard deviation, 10 decimals, half-even", True),
        "min": _dec("lowest price", True),
        "max": _dec("highest price", True),
        "first": _dec("first price", True),
        "last": _dec("last price", True),
        "change": _dec("last - first", True),
        "change_pct": _dec("(last - first) / first * 100, 10 decimals, half-even", True),
        "vwap": _dec("volume-weighted average price, 10 decimals, half-even", True),
        **_times("first_time", True),
        **_times("last_time", True),
    },
)

CandleItem = Schema.from_dict(
    {
        **_times("open_time"),
        "open": _dec("open"),
        "high": _dec("high"),
        "low": _dec("low"),
        "close": _dec("close"),
        "volume": _dec("volume"),
        "trades": _int(),
    },
    name="CandleItem",
)


class CandlesBody(Schema):
    symbol = fields.String(required=True)
    interval = fields.String(required=True)
    candles = fields.List(fields.Nested(CandleItem), required=True)


GapItem = _symbol_body(
    "GapItem",
    {
        "first_id": _int(),
        "last_id": _int(),
        "status": fields.String(required=True),
        "found_by": fields.String(required=True),
        **_times("detected_at"),
        **_times("filled_at", True),
    },
)


class GapsBody(Schema):
    gaps = fields.List(fields.Nested(GapItem), required=True)


class RepairBacklog(Schema):
    collectors = fields.Integer(metadata={"description": "collectors with a fresh heartbeat"})
    calls_queued = fields.Integer(
        metadata={"description": "historicalTrades calls their open gaps still need"}
    )
    oldest_gap_s = fields.Float(metadata={"description": "age of the oldest open gap"})


class ReplicaBody(Schema):
    standby = fields.Boolean(required=True, metadata={"description": "reading from a standby"})
    lag_seconds = fields.Float(
        allow_none=True, metadata={"description": "replay lag behind the primary (null: none yet)"}
    )


class HealthBody(Schema):
    status = fields.String(required=True)
    redis = fields.Boolean()
    postgresql = fields.Boolean()
    repair = fields.Nested(RepairBacklog)
    replica = fields.Nested(ReplicaBody)
