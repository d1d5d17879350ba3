"""Helpers for the writer's integration tests: recorded ticks, feeding, draining, checking."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from sqlalchemy import Engine, text
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.codec import GapRecord, to_fields
from tickvault.keys import WRITER_GROUP, RedisKeys
from tickvault.tick import Tick

RECEIVED_OFFSET_US = 1234  # a fixed, recognisable receive delay


def tick_of(trade: RecordedTrade) -> Tick:
    """Return the tick a collector would publish for a recorded trade."""
    return trade.tick(received_at=trade.event_time_ms * 1000 + RECEIVED_OFFSET_US)


def recorded_ticks() -> dict[str, list[Tick]]:
    """Return every trade of both real recordings as ticks, by symbol, in recorded order."""
    return {s: [tick_of(t) for t in trades] for s, trades in all_recorded_trades().items()}


def feed(client: redis.Redis, keys: RedisKeys, entries: Iterable[Tick | GapRecord]) -> int:
    """XADD every entry through the codec; return how many."""
    n = 0
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        pipe.xadd(keys.stream, to_fields(entry))  # type: ignore[arg-type]
        n += 1
        if n % 2000 == 0:
            pipe.execute()
    pipe.execute()
    return n


def group_state(client: redis.Redis, keys: RedisKeys) -> tuple[int, int]:
    """Return the writers' group (pending, lag)."""
    for group in client.xinfo_groups(keys.stream):
        if group["name"] in (WRITER_GROUP, WRITER_GROUP.encode()):
            return int(group["pending"]), int(group["lag"] or 0)
    return 0, -1


def stored_row(t: Tick) -> tuple[str, str, int, int, int, bool]:
    """Return what :func:`stored_trades` holds for *t* once it is stored exactly."""
    return (t.price, t.quantity, t.trade_time, t.event_time, t.received_at, t.is_buyer_maker)


def stored_trades(engine: Engine) -> dict[tuple[str, int], tuple[str, str, int, int, int, bool]]:
    """Return every stored trade by (symbol, id): price, quantity, times (µs) and maker flag."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT symbol, trade_id, price::text, quantity::text, "
                "(extract(epoch FROM trade_time) * 1000000)::bigint, "
                "(extract(epoch FROM event_time) * 1000000)::bigint, "
                "(extract(epoch FROM received_at) * 1000000)::bigint, is_buyer_maker "
                "FROM trades"
            )
        ).all()
    out: dict[tuple[str, int], tuple[str, str, int, int, int, bool]] = {}
    for r in rows:
        assert (r[0], r[1]) not in out, f"trade {r[0]} {r[1]} stored twice"
        out[(r[0], r[1])] = (r[2], r[3], r[4], r[5], r[6], r[7])
    return out


# Candles recomputed from `trades` alone, by plain aggregates independent of the writer's SQL.
RECOMPUTED_CANDLES = """
WITH t AS (SELECT symbol, date_trunc('minute', trade_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                  AS minute, trade_time, trade_id, price, quantity FROM trades),
f AS (SELECT DISTINCT ON (symbol, minute) symbol, minute, price AS open, trade_time AS open_time,
             trade_id AS open_trade_id
      FROM t ORDER BY symbol, minute, trade_time, trade_id),
l AS (SELECT DISTINCT ON (symbol, minute) symbol, minute, price AS close,
             trade_time AS close_time, trade_id AS close_trade_id
      FROM t ORDER BY symbol, minute, trade_time DESC, trade_id DESC),
a AS (SELECT symbol, minute, max(price) AS high, min(price) AS low, sum(quantity) AS volume,
             count(*) AS trades, sum(price * quantity) AS quote_volume, sum(price) AS price_sum,
             sum(price * price) AS price_sq_sum
      FROM t GROUP BY symbol, minute),
h AS (SELECT t.symbol, t.minute, min(t.trade_time) AS high_time FROM t
      JOIN a USING (symbol, minute) WHERE t.price = a.high GROUP BY 1, 2),
w AS (SELECT t.symbol, t.minute, min(t.trade_time) AS low_time FROM t
      JOIN a USING (symbol, minute) WHERE t.price = a.low GROUP BY 1, 2)
SELECT a.symbol, a.minute, f.open::text, a.high::text, a.low::text, l.close::text,
       a.volume::text, a.trades, a.quote_volume::text, a.price_sum::text, a.price_sq_sum::text,
       f.open_time, f.open_trade_id, l.close_time, l.close_trade_id, h.high_time, w.low_time
FROM a JOIN f USING (symbol, minute) JOIN l USING (symbol, minute) JOIN h USING (symbol, minute)
     JOIN w USING (symbol, minute)
ORDER BY 1, 2
"""

STORED_CANDLES = """
SELECT symbol, minute, open::text, high::text, low::text, close::text, volume::text, trades,
       quote_volume::text, price_sum::text, price_sq_sum::text, open_time, open_trade_id,
       close_time, close_trade_id, high_time, low_time
FROM candles_1m ORDER BY 1, 2
"""

RECOMPUTED_LEVELS = """
SELECT symbol, date_trunc('minute', trade_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', price,
       count(*), sum(quantity)::text
FROM trades GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""

STORED_LEVELS = (
    "SELECT symbol, minute, price, trades, volume::text FROM price_levels_1m ORDER BY 1, 2, 3"
)


def assert_stored_exactly(
    engine: Engine, recorded: dict[str, list[RecordedTrade]]
) -> dict[tuple[str, int], tuple[str, str, int, int, int, bool]]:
    """Assert that *engine* holds every recorded trade once, with its exact price, quantity
    and trade time, and nothing else; return the stored trades."""
    stored = stored_trades(engine)
    assert len(stored) == sum(len(ts) for ts in recorded.values())
    for symbol, trades in recorded.items():
        for t in trades:
            price, quantity, trade_time, *_ = stored[(symbol, t.trade_id)]
            assert (price, quantity, trade_time) == (t.price, t.quantity, t.trade_time_ms * 1000)
    return stored


def candles_match(engine: Engine) -> tuple[list[Any], list[Any]]:
    """Return (stored, recomputed) candle rows."""
    with engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(text(STORED_CANDLES))],
            [tuple(r) for r in conn.execute(text(RECOMPUTED_CANDLES))],
        )


def levels_match(engine: Engine) -> tuple[list[Any], list[Any]]:
    """Return (stored, recomputed) price-level rows."""
    with engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(text(STORED_LEVELS))],
            [tuple(r) for r in conn.execute(text(RECOMPUTED_LEVELS))],
        )


CANDLE_COLUMNS = (
    "symbol",
    "minute",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trades",
    "quote_volume",
    "price_sum",
    "price_sq_sum",
    "open_time",
    "open_trade_id",
    "close_time",
    "close_trade_id",
    "high_time",
    "low_time",
)


def assert_candles_recomputed(engine: Engine, expected_count: int | None = None) -> None:
    """Assert candles_1m and price_levels_1m equal their recomputation from `trades`."""
    stored, recomputed = candles_match(engine)
    keys = [r[:2] for r in stored]
    assert keys == [r[:2] for r in recomputed], "candle minutes differ from those of trades"
    diffs = [
        f"{s[0]} {s[1]:%H:%M}: "
        + ", ".join(
            f"{c} {a!r} != {b!r}" for c, a, b in zip(CANDLE_COLUMNS, s, r, strict=True) if a != b
        )
        for s, r in zip(stored, recomputed, strict=True)
        if s != r
    ]
    assert not diffs, "candles differ from trades:\n" + "\n".join(diffs[:5])
    assert len(stored) == len(recomputed)
    if expected_count is not None:
        assert len(stored) == expected_count
    levels, relevels = levels_match(engine)
    assert levels == relevels


def trade_count(engine: Engine) -> int:
    """Return how many trades the database holds."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM trades")).scalar() or 0)
