"""Hostile values for every parameter of every endpoint in /openapi.json: a 4xx envelope each.

The endpoints and their parameters are read from the OpenAPI document the API serves, so a
new parameter without a hostile strategy here fails the test. Each generated value is
invalid by construction (huge, negative or fractional numbers, unicode digits, NUL bytes,
very long or path-like text, foreign cursors, values outside an enumeration, unknown
symbols), put in place of one parameter of an otherwise valid request, alone and repeated
(the first of repeated parameters is the one read). The answer must be a 4xx with the docs/API.md
error envelope: never a 5xx, never a success.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import msgspec
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickvault.codec import MAX_TIME
from tickvault.tick import MAX_TRADE_ID
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

TRACKED = {"BTCUSDT", "ETHUSDT"}
CODES = {
    "invalid_parameter",
    "invalid_time",
    "invalid_range",
    "range_too_large",
    "unknown_symbol",
    "no_data",
    "not_found",
    "method_not_allowed",
}
W = {"start": "2024-08-08T23:59:00Z", "end": "2024-08-09T00:02:00Z"}
BASELINE: dict[str, dict[str, str]] = {
    "/api/v1/prices/{symbol}/at": {"time": "2024-08-09T00:00:00Z"},
    "/api/v1/prices/{symbol}/history": W,
    "/api/v1/prices/{symbol}/range": W,
    "/api/v1/prices/{symbol}/stats": W,
    "/api/v1/prices/{symbol}/candles": W,
}
# With these parameters hostile, the baseline's others are dropped (they exclude each other).
ALONE = {("/api/v1/prices/{symbol}/range", "minute")}

unicode_digits = st.text(
    st.characters(categories=["Nd"], exclude_characters="0123456789"), min_size=1, max_size=20
)
huge = st.integers(min_value=10**16, max_value=10**400).map(str)
negative = st.integers(max_value=-1, min_value=-(10**30)).map(str)
fractional = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, places=3).map(str).filter(lambda s: "." in s),
)
nul = st.text(max_size=20).map(lambda s: s + "\x00" + s)
long = st.integers(200, 20_000).map(lambda n: "9" * n) | st.integers(200, 20_000).map(
    lambda n: "A" * n
)
path_like = st.sampled_from(["../../etc/passwd", "..", ".", "%2e%2e%2f", "a/b", "/", "\\\\x"])
spoiled = st.tuples(
    st.sampled_from(["2024-08-09T00:00:00Z", "1723161600000", "2024-08-09T00:00", "50"]),
    st.sampled_from(["\x00", "\u0660", "Z\u200b", ".5", "e3", "--", "\ufeff", "\U0001f600"]),
).map("".join)
numbers = st.one_of(huge, negative, fractional, unicode_digits)
garbage = st.one_of(numbers, nul, long, path_like, spoiled)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


cursors = st.one_of(
    garbage,
    st.tuples(st.integers(MAX_TIME + 1, 10**30), st.integers(0, MAX_TRADE_ID)).map(
        lambda p: _b64(f"{p[0]}:{p[1]}")
    ),
    st.tuples(st.integers(0, MAX_TIME), st.integers(MAX_TRADE_ID + 1, 10**30)).map(
        lambda p: _b64(f"{p[0]}:{p[1]}")
    ),
    st.binary(min_size=1, max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()),
)


def _not_tracked(text: str) -> bool:
    return text.strip().upper() not in TRACKED


def _names_an_untracked_symbol(text: str) -> bool:
    parts = [p for p in text.split(",") if p.strip()]
    return any(_not_tracked(p) for p in parts)


symbols = st.one_of(garbage, st.text(min_size=1, max_size=60)).filter(_not_tracked)
symbol_lists = st.one_of(
    symbols,
    st.lists(st.one_of(st.sampled_from(sorted(TRACKED)), symbols), min_size=1, max_size=5).map(
        ",".join
    ),
).filter(_names_an_untracked_symbol)

STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    "time": garbage,
    "start": garbage,
    "end": garbage,
    "minute": garbage,
    "limit": st.one_of(garbage, st.sampled_from(["0", "-1", "5001", "1.0", "+5", " 5 x"])),
    "cursor": cursors,
    "symbol": symbols,
    "symbols": symbol_lists,
}


def hostile(parameter: dict[str, Any]) -> st.SearchStrategy[str]:
    """Return values that are never valid for *parameter* (its name or its enumeration), and
    that its documented pattern refuses (a number the pattern takes is clamped, not refused)."""
    schema = parameter.get("schema", {})
    if "enum" in schema:
        allowed = set(schema["enum"])
        return st.one_of(garbage, st.text(max_size=30)).filter(lambda s: s not in allowed)
    name = parameter["name"]
    assert name in STRATEGIES, f"no hostile values for the new parameter {name!r}"
    pattern = schema.get("pattern")
    if pattern is None:
        return STRATEGIES[name]
    return STRATEGIES[name].filter(lambda s: re.fullmatch(pattern, s) is None)


def operations(app: Flask) -> list[tuple[str, list[dict[str, Any]]]]:
    """Return (path, parameters) of every GET in the OpenAPI document."""
    document = app.test_client().get("/openapi.json").get_json()
    found = []
    for path, item in document["paths"].items():
        if "get" in item:
            found.append((path, [*item.get("parameters", []), *item["get"].get("parameters", [])]))
    return found


def check_answer(app: Flask, url: str) -> None:
    response = app.test_client().get(url, buffered=False)
    try:
        status = response.status_code
        assert 400 <= status < 500, (url[:300], status, response.get_data()[:300])
        body = msgspec.json.decode(response.get_data())
    finally:
        response.close()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] in CODES and isinstance(body["error"]["message"], str)


def request_url(path: str, where: str, name: str, value: str, query: dict[str, str]) -> list[str]:
    """Return the URLs that put *value* in parameter *name*: alone, and repeated."""
    quoted = urllib.parse.quote(value, safe="")
    if where == "path":
        url = path.replace("{" + name + "}", quoted)
        return [f"{url}?{urllib.parse.urlencode(query)}" if query else url]
    url = path.replace("{symbol}", "BTCUSDT")
    rest = urllib.parse.urlencode({k: v for k, v in query.items() if k != name})
    hostile_first = f"{name}={quoted}"
    valid_second = f"{name}={urllib.parse.quote(query.get(name, 'x'))}"
    return [
        f"{url}?{'&'.join(p for p in (hostile_first, rest) if p)}",
        f"{url}?{'&'.join(p for p in (hostile_first, valid_second, rest) if p)}",
    ]


def fuzz(app: Flask, path: str, parameter: dict[str, Any], query: dict[str, str]) -> None:
    """Send hostile values of one parameter; check every answer."""
    name, where = parameter["name"], parameter["in"]

    @given(value=hostile(parameter))
    @settings(suppress_health_check=list(HealthCheck), database=None)
    def run(value: str) -> None:
        for url in request_url(path, where, name, value, query):
            check_answer(app, url)

    run()


def test_hostile_values_of_every_parameter_get_a_4xx_envelope(
    api_settings: Callable[..., ApiSettings], client: object
) -> None:
    app = create_app(api_settings())
    found = operations(app)
    fuzzed = 0
    for path, parameters in found:
        for parameter in parameters:
            alone = (path, parameter["name"]) in ALONE
            fuzz(app, path, parameter, {} if alone else BASELINE.get(path, {}))
            fuzzed += 1
    assert fuzzed >= 17, found  # every parameter of the document was fuzzed
    app.extensions["tickvault"].stores.close()
