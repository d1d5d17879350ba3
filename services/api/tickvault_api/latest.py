"""Views answered from Redis: tracked symbols and the latest price of each."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from tickvault.codec import latest_json
from tickvault_api import schemas
from tickvault_api.contract import documented
from tickvault_api.deps import ApiDeps
from tickvault_api.errors import NoData
from tickvault_api.params import parse_symbol
from tickvault_api.responses import json_response, times


def make_blueprint(deps: ApiDeps) -> Blueprint:
    """Return the blueprint of the Redis-backed views."""
    blp = Blueprint("latest", __name__, url_prefix="/api/v1", description="Latest prices (Redis)")

    @documented(blp, "/symbols", schemas.SymbolsBody, 503)
    def symbols() -> Response:
        """Tracked symbols, whether each has data, and the status the collector reports; then
        the names the exchange lists that tickvault cannot store, each with the reason."""
        tracked = deps.tracked
        has_data = deps.stores.have_latest(tracked)
        body = []
        for s in tracked:
            status, since = tracked.statuses.get(s, (None, None))
            body.append(
                {
                    "symbol": s,
                    "has_data": has_data[s],
                    "status": status,
                    **times("status_since", since),
                }
            )
        unsupported = [{"symbol": n, "reason": r} for n, r in tracked.unsupported.items()]
        return json_response({"symbols": body, "unsupported": unsupported})

    @documented(blp, "/prices/latest", schemas.LatestAllBody, 503)
    def latest_all() -> Response:
        """The latest trade of every tracked symbol that has one."""
        tracked = deps.tracked
        latest = deps.stores.read_latest(tracked)
        now = deps.clock_us()
        prices: list[dict[str, Any]] = [
            latest_json(p, now) for s in tracked if (p := latest[s]) is not None
        ]
        return json_response({"prices": prices})

    @documented(blp, "/prices/<symbol>/latest", schemas.LatestBody, 404, 503)
    def latest_one(symbol: str) -> Response:
        """The latest trade of one symbol."""
        sym = parse_symbol(symbol, deps.tracked)
        price = deps.stores.read_latest((sym,))[sym]
        if price is None:
            raise NoData(f"no trade of {sym} has been seen yet")
        return json_response(latest_json(price, deps.clock_us()))

    return blp
