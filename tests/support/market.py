"""Checking the capture of a synthetic market: positions seeded as a previous run would have
left them, what PostgreSQL holds per symbol, and the ids still missing."""

from __future__ import annotations

from typing import Any

import redis
from sqlalchemy import Engine, text
from tests.private_servers import ReplayProcess

from tickvault.keys import RedisKeys

Ranges = dict[str, tuple[int, int]]
Stored = dict[str, tuple[int, int, int]]


def exchange(replay: ReplayProcess) -> dict[str, dict[str, Any]]:
    """Return the replay's symbols (listed or once listed) with their status and ids."""
    return {v["symbol"]: v for v in replay.get("/_replay/symbols")["symbols"]}


def seed_positions(client: redis.Redis, prefix: str, market: dict[str, Any]) -> dict[str, int]:
    """Tell the collector it has every trade so far (as a previous run would have); return
    the marks: from here on, every trade of every symbol must be captured."""
    keys = RedisKeys(prefix)
    marks = {s: v["next_trade_id"] - 1 for s, v in market.items() if v["next_trade_id"]}
    client.mset({keys.collector_last_id(s): mark for s, mark in marks.items()})
    return marks


def owed(marks: dict[str, int], market: dict[str, dict[str, Any]]) -> Ranges:
    """Return the ids each symbol printed after its mark (a new listing: from its first)."""
    out = {}
    for symbol, view in market.items():
        last = view["last_trade_id"]
        if last is None:
            continue
        first = marks.get(symbol, view["first_trade_id"] - 1) + 1
        if last >= first:
            out[symbol] = (first, last)
    return out


def stored(engine: Engine) -> Stored:
    """Return ``symbol -> (count, lowest id, highest id)`` of what PostgreSQL holds."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, count(*), min(trade_id), max(trade_id) FROM trades GROUP BY 1")
        )
        return {str(s): (int(n), int(lo), int(hi)) for s, n, lo, hi in rows}


def holes(have: Stored, ranges: Ranges) -> dict[str, tuple[int, int, int]]:
    """Return the symbols whose stored ids are not exactly ``first..`` at least ``last`` of
    *ranges*, with what is stored instead (count, lowest, highest)."""
    out = {}
    for symbol, (first, last) in ranges.items():
        count, low, high = have.get(symbol, (0, first, first - 1))
        if low != first or high < last or count != high - low + 1:
            out[symbol] = (count, low, high)
    return out


def missing(engine: Engine, ranges: Ranges) -> int:
    """Return how many ids of *ranges* PostgreSQL does not hold (exactly, one query)."""
    if not ranges:
        return 0
    wanted = sum(last - first + 1 for first, last in ranges.values())
    values = ", ".join(f"(:s{i}, :a{i}, :b{i})" for i in range(len(ranges)))
    params: dict[str, Any] = {}
    for i, (symbol, (first, last)) in enumerate(ranges.items()):
        params |= {f"s{i}": symbol, f"a{i}": first, f"b{i}": last}
    query = text(
        f"SELECT count(*) FROM (VALUES {values}) AS r(symbol, lo, hi) JOIN trades t"
        " ON t.symbol = r.symbol AND t.trade_id BETWEEN r.lo AND r.hi"
    )
    with engine.connect() as conn:
        held = int(conn.execute(query, params).scalar() or 0)
    return wanted - held
