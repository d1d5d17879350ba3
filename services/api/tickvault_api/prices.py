"""Views answered from PostgreSQL: price at a second, history, range, stats, candles, gaps."""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Response, request
from flask_smorest import Blueprint
from sqlalchemy import Connection

from tickvault.tick import iso_ms
from tickvault_api import queries, schemas
from tickvault_api.contract import Route, documented
from tickvault_api.decimal_stats import exact_midpoint, fmt
from tickvault_api.deps import ApiDeps
from tickvault_api.errors import NoData, RangeTooLarge
from tickvault_api.limits import abort_connection, bound_writes
from tickvault_api.params import (
    HOUR_US,
    INTERVALS_US,
    SECOND_US,
    Window,
    ceil_to,
    decode_cursor,
    encode_cursor,
    floor_to,
    parse_limit,
    parse_minute,
    parse_open_window,
    parse_symbol,
    parse_time,
    parse_window,
)
from tickvault_api.responses import (
    at_body,
    encode_json,
    json_response,
    range_body,
    stats_body,
    times,
    trade_body,
)
from tickvault_api.rows import TradeRow

log = logging.getLogger(__name__)
T = TypeVar("T")
ERRORS = (400, 404, 503)
CSV_CHUNK = 1000  # rows per fetch and per write: a few ms of CPU, so other requests interleave


def make_blueprint(deps: ApiDeps) -> Blueprint:
    """Return the blueprint of the PostgreSQL-backed views."""
    blp = Blueprint("prices", __name__, url_prefix="/api/v1", description="Prices (PostgreSQL)")
    for route in _ROUTES:
        view = _view(deps, route.answer)
        documented(blp, route.rule, route.body, *ERRORS, query=route.query, csv=route.csv)(view)
    return blp


def _view(deps: ApiDeps, answer: Callable[..., Response]) -> Callable[..., Response]:
    """Return the view of *answer*: its endpoint name and OpenAPI summary come from it."""

    def view(args: dict[str, Any], **path: str) -> Response:
        return answer(deps, args, **path)

    view.__name__ = answer.__name__.removeprefix("answer_")
    view.__doc__ = answer.__doc__
    return view


def _max_width(deps: ApiDeps) -> int:
    return deps.settings.api_max_window_hours * HOUR_US


def cached(
    deps: ApiDeps, key: tuple[Any, ...], end_us: int | None, compute: Callable[[], bytes]
) -> bytes:
    """Return *compute()*, from the cache when the window is wholly, safely in the past —
    also for the standby the answer comes from, which trails the present by its lag."""
    deps.standby.check()
    if deps.cache.cacheable(end_us, deps.clock_us() - deps.standby.behind_us()):
        return deps.cache.get_or_compute(key, compute)
    return compute()


def query(deps: ApiDeps, work: Callable[[Connection], T]) -> T:
    """Return *work* run on the API's database, asked again after a recovery conflict;
    ``unavailable`` while the standby it reads from is too far behind."""
    deps.standby.check()
    return deps.stores.query(work, on_conflict=deps.metrics.recovery_conflicts.inc)


def answer_at(deps: ApiDeps, args: dict[str, Any], symbol: str) -> Response:
    """The price at a second: the trade in force then (before) or the closest (nearest)."""
    sym = parse_symbol(symbol, deps.tracked)
    t = parse_time(args.get("time"), "time")
    match = args["match"]
    second = floor_to(t, SECOND_US)
    end = second + SECOND_US if match == "before" else t

    def compute() -> bytes:
        row = query(
            deps,
            lambda conn: (
                deps.tiered.trade_before(conn, sym, second + SECOND_US)
                if match == "before"
                else deps.tiered.trade_nearest(conn, sym, t)
            ),
        )
        if row is None:
            raise NoData(f"no trade of {sym} at or before {iso_ms(second + SECOND_US - 1)}")
        return encode_json(at_body(sym, t, second, row))

    return json_response(cached(deps, ("at", sym, t, match), end, compute))


def answer_history(deps: ApiDeps, args: dict[str, Any], symbol: str) -> Response:
    """Trades with start <= trade_time < end, oldest first, keyset-paginated."""
    sym = parse_symbol(symbol, deps.tracked)
    window = parse_window(args.get("start"), args.get("end"), _max_width(deps))
    s = deps.settings
    limit = parse_limit(args.get("limit"), s.api_history_default_limit, s.api_history_max_limit)
    after = decode_cursor(args["cursor"]) if args.get("cursor") else None
    if args["format"] == "csv":
        return _csv_response(deps, sym, window, after)
    rows = query(deps, lambda conn: deps.tiered.history_page(conn, sym, window, after, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1].trade_time, rows[-1].trade_id) if more else None
    body = {"symbol": sym, "trades": [trade_body(r) for r in rows], "next_cursor": cursor}
    return json_response(body)


def answer_price_range(deps: ApiDeps, args: dict[str, Any], symbol: str) -> Response:
    """High and low (with their times), open, close, trades and volume of a minute or window."""
    sym = parse_symbol(symbol, deps.tracked)
    minute = args.get("minute")
    around = parse_minute(minute) if minute is not None else None
    window = parse_open_window(args.get("start"), args.get("end"), _max_width(deps), around)

    def compute() -> bytes:
        agg = query(deps, lambda conn: deps.tiered.aggregate(conn, sym, window))
        return encode_json(range_body(sym, window, agg))

    end_us = None if window is None else window.end
    return json_response(cached(deps, ("range", sym, window), end_us, compute))


def answer_stats(deps: ApiDeps, args: dict[str, Any], symbol: str) -> Response:
    """Exact statistics of a window, or of everything retained without one."""
    sym = parse_symbol(symbol, deps.tracked)
    window = parse_open_window(args.get("start"), args.get("end"), _max_width(deps))

    def compute() -> bytes:
        agg, pair = query(deps, lambda conn: deps.tiered.stats(conn, sym, window))
        median = None if pair is None else exact_midpoint(*pair)
        return encode_json(stats_body(sym, window, agg, median))

    end_us = None if window is None else window.end
    return json_response(cached(deps, ("stats", sym, window), end_us, compute))


def answer_candles(deps: ApiDeps, args: dict[str, Any], symbol: str) -> Response:
    """OHLCV buckets that start in [start, end) (start rounded down to the interval)."""
    sym = parse_symbol(symbol, deps.tracked)
    interval = args["interval"]
    step = INTERVALS_US[interval]
    window = parse_window(args.get("start"), args.get("end"), _max_width(deps))
    first = floor_to(window.start, step)
    last = ceil_to(window.end, step)
    if (last - first) // step > deps.settings.api_max_candles:
        raise RangeTooLarge(
            f"the window holds more than {deps.settings.api_max_candles} {interval} candles; "
            "ask for a shorter window or a wider interval"
        )

    def compute() -> bytes:
        rows = query(deps, lambda conn: deps.tiered.candles(conn, sym, step, first, last))
        items = [
            {
                **times("open_time", r.open_time),
                "open": fmt(r.open),
                "high": fmt(r.high),
                "low": fmt(r.low),
                "close": fmt(r.close),
                "volume": fmt(r.volume),
                "trades": r.trades,
            }
            for r in rows
        ]
        return encode_json({"symbol": sym, "interval": interval, "candles": items})

    return json_response(cached(deps, ("candles", sym, interval, first, last), last, compute))


def answer_gaps(deps: ApiDeps, args: dict[str, Any]) -> Response:
    """Detected gaps in trade ids, most recent first, and whether each was filled."""
    raw = args.get("symbol")
    sym = parse_symbol(raw, deps.tracked) if raw else None
    rows = query(deps, lambda conn: queries.gaps(conn, sym, 1000))
    out = [
        {
            **{k: v for k, v in r.items() if k not in ("detected_at", "filled_at")},
            **times("detected_at", r["detected_at"]),
            **times("filled_at", r["filled_at"]),
        }
        for r in rows
    ]
    return json_response({"gaps": out})


CSV_HEADER = "trade_id,price,quantity,trade_time,trade_time_ms,is_buyer_maker\n"


def _csv_rows(rows: list[TradeRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(
        (
            r.trade_id,
            fmt(r.price),
            fmt(r.quantity),
            iso_ms(r.trade_time),
            r.trade_time // 1000,
            "true" if r.is_buyer_maker else "false",
        )
        for r in rows
    )
    return buf.getvalue()


def _attachment(filename: str) -> str:
    """Return a Content-Disposition naming *filename* (RFC 6266: a UTF-8 name percent-encoded
    in ``filename*``, with an ASCII ``filename`` for clients that read only that)."""
    if filename.isascii():
        return f'attachment; filename="{filename}"'
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _csv_response(
    deps: ApiDeps, symbol: str, window: Window, after: tuple[int, int] | None
) -> Response:
    """Stream every trade of *window* (after the cursor, if any) as CSV with a header.

    At most ``TICKVAULT_API_MAX_EXPORTS`` at once per process (429 beyond); rows come from a
    server-side cursor, ``CSV_CHUNK`` at a time, so memory is constant; an export still
    running after ``TICKVAULT_API_EXPORT_MAX_SECONDS`` is cut off by aborting the connection
    (never by ending the file cleanly, which would look complete).
    """
    deps.standby.check()
    held = ExitStack()  # the export slot and the database connection, until the last row
    held.callback(deps.exports.acquire().release)
    try:
        conn = held.enter_context(deps.stores.db())
        batches = deps.tiered.history_batches(conn, symbol, window, after, CSV_CHUNK)
        first = next(batches, [])  # a failure here is still a clean 503, before any byte
    except BaseException:
        held.close()
        raise
    budget = deps.settings.api_export_max_seconds
    environ = request.environ
    bound_writes(environ)

    def generate() -> Iterator[str]:
        deadline = time.monotonic() + budget
        with held:
            yield CSV_HEADER + _csv_rows(first)
            for rows in batches:
                if time.monotonic() > deadline:
                    deps.metrics.exports_cut.inc()
                    log.warning("cut off a CSV export of %s after %g s", symbol, budget)
                    abort_connection(environ, f"the export took longer than {budget:g} s")
                    return
                yield _csv_rows(rows)

    headers = {"Content-Disposition": _attachment(f"{symbol}-trades.csv")}
    response = Response(generate(), mimetype="text/csv", headers=headers)
    response.call_on_close(held.close)  # also when the body is never iterated
    return response


_ROUTES = (
    Route("/prices/<symbol>/at", schemas.AtQuery, schemas.AtBody, answer_at),
    Route(
        "/prices/<symbol>/history",
        schemas.HistoryQuery,
        schemas.HistoryBody,
        answer_history,
        csv=True,
    ),
    Route("/prices/<symbol>/range", schemas.RangeQuery, schemas.RangeBody, answer_price_range),
    Route("/prices/<symbol>/stats", schemas.OpenWindowQuery, schemas.StatsBody, answer_stats),
    Route("/prices/<symbol>/candles", schemas.CandlesQuery, schemas.CandlesBody, answer_candles),
    Route("/gaps", schemas.GapsQuery, schemas.GapsBody, answer_gaps),
)
