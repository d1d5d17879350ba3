"""Views answered from Redis: tracked symbols and the latest price of each."""

from __future__ import annotations

from typing import Any

import redis
from flask import Response
from flask_smorest import Blueprint

from tickvault.codec import LatestPrice, latest_from_hash
from tickvault.keys import RedisKeys
from tickvault_api import schemas
from tickvault_api.context import ApiContext, json_response
from tickvault_api.errors import NoData, Unavailable
from tickvault_api.params import parse_symbol
from tickvault_api.shapes import latest_body


def read_latest(ctx: ApiContext, symbols: tuple[str, ...]) -> dict[str, LatestPrice | None]:
    """Return the cached latest trade of each symbol (None when none is cached)."""
    keys = RedisKeys(ctx.settings.redis_prefix)
    client = ctx.stores.redis
    try:
        if len(symbols) == 1:
            raw = [client.hgetall(keys.latest(symbols[0]))]
        else:
            pipe = client.pipeline(transaction=False)
            for symbol in symbols:
                pipe.hgetall(keys.latest(symbol))
            raw = pipe.execute()
    except redis.RedisError as exc:
        raise Unavailable(f"Redis cannot answer right now ({type(exc).__name__})") from exc
    return {s: latest_from_hash(s, fields) for s, fields in zip(symbols, raw, strict=True)}


def make_blueprint(ctx: ApiContext) -> Blueprint:
    """Return the blueprint of the Redis-backed views."""
    blp = Blueprint("latest", __name__, url_prefix="/api/v1", description="Latest prices (Redis)")

    @blp.route("/symbols")
    @blp.response(200, schemas.SymbolsBody)
    @blp.alt_response(503, schema=schemas.ErrorBody)
    def symbols() -> Response:
        """Tracked symbols and whether each has data."""
        latest = read_latest(ctx, ctx.tracked)
        body = [{"symbol": s, "has_data": latest[s] is not None} for s in ctx.tracked]
        return json_response({"symbols": body})

    @blp.route("/prices/latest")
    @blp.response(200, schemas.LatestAllBody)
    @blp.alt_response(503, schema=schemas.ErrorBody)
    def latest_all() -> Response:
        """The latest trade of every tracked symbol that has one."""
        now = ctx.clock_us()
        latest = read_latest(ctx, ctx.tracked)
        prices: list[dict[str, Any]] = [
            latest_body(p, now) for s in ctx.tracked if (p := latest[s]) is not None
        ]
        return json_response({"prices": prices})

    @blp.route("/prices/<symbol>/latest", parameters=[schemas.SYMBOL_PARAM])
    @blp.response(200, schemas.LatestBody)
    @blp.alt_response(404, schema=schemas.ErrorBody)
    @blp.alt_response(503, schema=schemas.ErrorBody)
    def latest_one(symbol: str) -> Response:
        """The latest trade of one symbol."""
        sym = parse_symbol(symbol, ctx.tracked)
        price = read_latest(ctx, (sym,))[sym]
        if price is None:
            raise NoData(f"no trade of {sym} has been seen yet")
        return json_response(latest_body(price, ctx.clock_us()))

    return blp
