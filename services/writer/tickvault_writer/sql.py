"""The SQL of the write path: the trades COPY, the staging table, aggregate and gap upserts.

The fast path (:data:`COPY_TRADES`) serves a batch whose trades are all new. The fallback
loads the same binary COPY stream into a staging table (:data:`COPY_STAGING`) and inserts it
``ON CONFLICT DO NOTHING`` (:data:`INSERT_NEW`), returning the rows actually inserted, so a
redelivered or duplicated trade is never counted twice. Either way the inserted trades'
candles and price levels (aggregated in Python) are merged by :data:`UPSERT_AGGREGATES`.
The candle merge is order-independent:

- open/close: the earliest/latest trade of the minute by (trade_time, trade_id);
- high/low: greatest/least, with the earliest time that extreme was reached;
- volume, trades, quote volume (sum p*q), price sum and price-square sum add up.

Rows are upserted in key order, so concurrent writers take row locks in the same order.
"""

from __future__ import annotations

from tickvault_writer import binary

STAGING = "tv_staging"

# The columns of binary.COLUMNS, in its order, so the fast path's COPY stream loads as is.
CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGING} (
    symbol text NOT NULL,
    price numeric NOT NULL,
    quantity numeric NOT NULL,
    trade_time timestamptz NOT NULL,
    trade_id bigint NOT NULL,
    event_time timestamptz NOT NULL,
    is_buyer_maker boolean NOT NULL,
    received_at timestamptz NOT NULL
) ON COMMIT DELETE ROWS
"""

LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname IN ('trades', 'candles_1m', 'price_levels_1m')
  AND p.relnamespace = current_schema()::regnamespace
"""

COPY_STAGING = f"COPY {STAGING} {binary.COLUMNS} FROM STDIN (FORMAT binary)"

CANDLE_COLUMNS = """symbol, minute, open, high, low, close, volume, trades, quote_volume, price_sum,
         price_sq_sum, open_time, open_trade_id, close_time, close_trade_id, high_time, low_time"""

# How a batch's candle merges into the stored one: order-independent (see the module doc).
CANDLE_MERGE = """    ON CONFLICT (symbol, minute) DO UPDATE SET
        open = CASE WHEN (EXCLUDED.open_time, EXCLUDED.open_trade_id)
                         < (k.open_time, k.open_trade_id) THEN EXCLUDED.open ELSE k.open END,
        open_time = LEAST(k.open_time, EXCLUDED.open_time),
        open_trade_id = CASE WHEN (EXCLUDED.open_time, EXCLUDED.open_trade_id)
                         < (k.open_time, k.open_trade_id)
                         THEN EXCLUDED.open_trade_id ELSE k.open_trade_id END,
        close = CASE WHEN (EXCLUDED.close_time, EXCLUDED.close_trade_id)
                          > (k.close_time, k.close_trade_id) THEN EXCLUDED.close ELSE k.close END,
        close_time = GREATEST(k.close_time, EXCLUDED.close_time),
        close_trade_id = CASE WHEN (EXCLUDED.close_time, EXCLUDED.close_trade_id)
                          > (k.close_time, k.close_trade_id)
                          THEN EXCLUDED.close_trade_id ELSE k.close_trade_id END,
        high = GREATEST(k.high, EXCLUDED.high),
        high_time = CASE WHEN EXCLUDED.high > k.high THEN EXCLUDED.high_time
                         WHEN EXCLUDED.high < k.high THEN k.high_time
                         ELSE LEAST(k.high_time, EXCLUDED.high_time) END,
        low = LEAST(k.low, EXCLUDED.low),
        low_time = CASE WHEN EXCLUDED.low < k.low THEN EXCLUDED.low_time
                        WHEN EXCLUDED.low > k.low THEN k.low_time
                        ELSE LEAST(k.low_time, EXCLUDED.low_time) END,
        volume = k.volume + EXCLUDED.volume,
        trades = k.trades + EXCLUDED.trades,
        quote_volume = k.quote_volume + EXCLUDED.quote_volume,
        price_sum = k.price_sum + EXCLUDED.price_sum,
        price_sq_sum = k.price_sq_sum + EXCLUDED.price_sq_sum"""

LEVEL_MERGE = """    ON CONFLICT (symbol, minute, price) DO UPDATE SET
        trades = pl.trades + EXCLUDED.trades,
        volume = pl.volume + EXCLUDED.volume"""

_US = "timestamptz 'epoch' + {} * interval '1 microsecond'"

_TRADE_COLUMNS = binary.COLUMNS.strip("()")

# The fallback: the batch's binary COPY stream went into the staging table; insert what is
# new and say which rows those were, so that only they are folded into candles and levels.
INSERT_NEW = f"""
INSERT INTO trades AS tr {binary.COLUMNS}
SELECT {_TRADE_COLUMNS} FROM {STAGING}
ORDER BY symbol, trade_time, trade_id
ON CONFLICT DO NOTHING
RETURNING tr.symbol, tr.trade_id, (extract(epoch FROM tr.trade_time) * 1000000)::bigint
"""

# Every trade inserted, by either path, is folded into candles and levels by
# tickvault_writer.aggregate and upserted here as arrays (text literals).
COPY_TRADES = f"COPY trades {binary.COLUMNS} FROM STDIN (FORMAT binary)"

# An import's block: the price levels of the minutes it holds whole, when none is stored yet
# (a unique violation sends them to UPSERT_AGGREGATES instead).
COPY_LEVELS = (
    "COPY price_levels_1m (symbol, minute, price, trades, volume) FROM STDIN (FORMAT binary)"
)

UPSERT_AGGREGATES = f"""
WITH c AS (
    SELECT * FROM unnest(%s::text[], %s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[],
                         %s::numeric[], %s::numeric[], %s::int[], %s::numeric[], %s::numeric[],
                         %s::numeric[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                         %s::bigint[], %s::bigint[])
        AS v(symbol, m, open, high, low, close, volume, trades, quote_volume, price_sum,
             price_sq_sum, ot, open_trade_id, ct, close_trade_id, ht, lt)
),
cu AS (
    INSERT INTO candles_1m AS k ({CANDLE_COLUMNS})
    SELECT symbol, {_US.format("m")}, open, high, low, close, volume, trades, quote_volume,
           price_sum, price_sq_sum, {_US.format("ot")}, open_trade_id, {_US.format("ct")},
           close_trade_id, {_US.format("ht")}, {_US.format("lt")}
    FROM c
    ORDER BY 1, 2
{CANDLE_MERGE}
    RETURNING 1
),
lu AS (
    INSERT INTO price_levels_1m AS pl (symbol, minute, price, trades, volume)
    SELECT v.symbol, {_US.format("v.m")}, v.price, v.trades, v.volume
    FROM unnest(%s::text[], %s::bigint[], %s::numeric[], %s::int[], %s::numeric[])
        AS v(symbol, m, price, trades, volume)
    ORDER BY 1, 2, 3
{LEVEL_MERGE}
    RETURNING 1
)
SELECT (SELECT count(*) FROM cu), (SELECT count(*) FROM lu)
"""

# Status only moves forward: detected -> unfillable -> filled. The reason is the first
# record's (a range is opened once, for one reason).
_RANK = "(CASE {} WHEN 'detected' THEN 0 WHEN 'unfillable' THEN 1 ELSE 2 END)"

UPSERT_GAPS = f"""
INSERT INTO trade_gaps AS g
    (symbol, first_id, last_id, status, found_by, reason, detected_at, filled_at)
SELECT v.symbol, v.first_id, v.last_id, v.status, v.found_by, v.reason,
       {_US.format("v.detected_us")},
       CASE WHEN v.filled_us IS NOT NULL THEN {_US.format("v.filled_us")}
            WHEN v.status = 'filled' THEN now() END
FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[],
            %s::bigint[], %s::bigint[])
     AS v(symbol, first_id, last_id, status, found_by, reason, detected_us, filled_us)
ORDER BY 1, 2, 3
ON CONFLICT (symbol, first_id, last_id) DO UPDATE SET
    status = CASE WHEN {_RANK.format("EXCLUDED.status")} > {_RANK.format("g.status")}
                  THEN EXCLUDED.status ELSE g.status END,
    filled_at = CASE WHEN EXCLUDED.status = 'filled' AND g.status <> 'filled'
                     THEN COALESCE(EXCLUDED.filled_at, now()) ELSE g.filled_at END,
    detected_at = LEAST(g.detected_at, EXCLUDED.detected_at)
"""
