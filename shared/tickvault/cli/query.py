"""``tickvault query``: ask the API about prices and print tables (rich) or ``--json``.

A plain HTTP client of the REST API (``--url``, env ``TICKVAULT_API_URL``, default
``http://`` + ``TICKVAULT_API_BIND``); it never imports the API's code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rich.console import Console
from rich.table import Table

from tickvault.codec import LATEST_JSON_FIELDS
from tickvault.errors import TickvaultError

TIMEOUT = 30.0


class QueryFailed(TickvaultError):
    """The API answered with an error, or could not be reached."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``query`` subcommands to *sub*."""
    parser = sub.add_parser("query", help="ask the API about prices")
    parser.add_argument("--url", help="API base URL (default: $TICKVAULT_API_URL or the bind)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON as is")
    q = parser.add_subparsers(dest="query_command", required=True, metavar="QUESTION")

    latest = q.add_parser("latest", help="latest price of one symbol, or of all")
    latest.add_argument("symbol", nargs="?")

    at = q.add_parser("at", help="price at a second")
    at.add_argument("symbol")
    at.add_argument("time", help="ISO 8601 or epoch milliseconds")
    at.add_argument("--match", choices=("before", "nearest"), default="before")

    history = q.add_parser("history", help="trades in [start, end), every page")
    history.add_argument("symbol")
    history.add_argument("--start", required=True)
    history.add_argument("--end", required=True)
    history.add_argument("--limit", type=int, default=1000, help="page size")
    history.add_argument("--max", type=int, default=100_000, help="stop after this many trades")

    rng = q.add_parser("range", help="high/low/open/close of a minute or window")
    rng.add_argument("symbol")
    rng.add_argument("--minute", help="YYYY-MM-DDTHH:MM")
    rng.add_argument("--start")
    rng.add_argument("--end")

    stats = q.add_parser("stats", help="statistics of a window (default: everything)")
    stats.add_argument("symbol")
    stats.add_argument("--start")
    stats.add_argument("--end")

    candles = q.add_parser("candles", help="OHLCV candles")
    candles.add_argument("symbol")
    candles.add_argument("--interval", default="1m", choices=("1s", "1m", "5m", "15m", "1h", "1d"))
    candles.add_argument("--start", required=True)
    candles.add_argument("--end", required=True)

    parser.set_defaults(handler=run)


def base_url(args: argparse.Namespace) -> str:
    """Return the API base URL the user chose."""
    if args.url:
        return str(args.url).rstrip("/")
    env = os.environ.get("TICKVAULT_API_URL")
    if env:
        return env.rstrip("/")
    return "http://" + os.environ.get("TICKVAULT_API_BIND", "127.0.0.1:8000")


def fetch(base: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET *path* with *params*; return the JSON body or raise :class:`QueryFailed`."""
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
    url = f"{base}{path}" + (f"?{query}" if query else "")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            raise QueryFailed(f"{error['code']}: {error['message']}") from None
        except (ValueError, KeyError, TypeError):
            raise QueryFailed(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise QueryFailed(
            f"cannot reach the API at {base} ({exc}); is tickvault-api running?"
        ) from None


def ask(args: argparse.Namespace) -> Any:
    """Return the API's answer to the question in *args*."""
    base = base_url(args)
    cmd = args.query_command
    if cmd == "latest":
        if args.symbol:
            return fetch(base, f"/api/v1/prices/{_sym(args.symbol)}/latest")
        return fetch(base, "/api/v1/prices/latest")
    prefix = f"/api/v1/prices/{_sym(args.symbol)}"
    if cmd == "at":
        return fetch(base, f"{prefix}/at", {"time": args.time, "match": args.match})
    if cmd == "history":
        return _history(base, prefix, args)
    if cmd == "range":
        return fetch(
            base, f"{prefix}/range", {"minute": args.minute, "start": args.start, "end": args.end}
        )
    if cmd == "stats":
        return fetch(base, f"{prefix}/stats", {"start": args.start, "end": args.end})
    return fetch(
        base, f"{prefix}/candles", {"interval": args.interval, "start": args.start, "end": args.end}
    )


def _sym(symbol: str) -> str:
    return urllib.parse.quote(symbol, safe="")


def _history(base: str, prefix: str, args: argparse.Namespace) -> dict[str, Any]:
    trades: list[Any] = []
    cursor = None
    params = {"start": args.start, "end": args.end, "limit": args.limit}
    while True:
        page = fetch(base, f"{prefix}/history", {**params, "cursor": cursor})
        trades += page["trades"]
        cursor = page["next_cursor"]
        if cursor is None or len(trades) >= args.max:
            return {"symbol": page["symbol"], "trades": trades[: args.max], "next_cursor": cursor}


def render(cmd: str, body: Any) -> Table:
    """Return a rich table of an answer."""
    if cmd == "latest":
        rows = body.get("prices", [body])
        return _table(rows, tuple(f for f in LATEST_JSON_FIELDS if f != "trade_time_ms"))
    if cmd == "history":
        columns = ("trade_id", "price", "quantity", "trade_time", "is_buyer_maker")
        return _table(body["trades"], columns, title=body["symbol"])
    if cmd == "candles":
        ohlcv = ("open_time", "open", "high", "low", "close", "volume", "trades")
        return _table(body["candles"], ohlcv, title=f"{body['symbol']} {body['interval']}")
    table = Table("field", "value", title=body.get("symbol"))
    for key, value in body.items():
        if key != "symbol" and not key.endswith("_ms"):
            table.add_row(key, "—" if value is None else str(value))
    return table


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], title: str | None = None) -> Table:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("—" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


def run(args: argparse.Namespace) -> int:
    """Ask and print; return 0, or 1 with one line on stderr when the API says no."""
    try:
        body = ask(args)
    except QueryFailed as exc:
        print(f"tickvault query: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if args.json:
        print(json.dumps(body, indent=2))  # noqa: T201
    else:
        # Never let a narrow terminal truncate an exact price: widen rather than cut.
        console = Console()
        console.width = max(console.width, 160)
        console.print(render(args.query_command, body))
    return 0
