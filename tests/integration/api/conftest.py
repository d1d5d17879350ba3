"""Fixtures of the API's integration tests: a database holding both real recordings.

The recordings are stored through the writer's own write path (``PgStore.write``: trades,
candles_1m and price_levels_1m in one statement), exactly as in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from tests.integration.api import expected as ex
from tests.integration.api.loading import READ_ONLY_ROLE, as_role, store_ticks, to_tick
from tests.support.recordings import RecordedTrade, all_recorded_trades

from tickvault.codec import latest_to_hash
from tickvault.db import migrate
from tickvault.keys import RedisKeys
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings


@pytest.fixture(scope="session")
def recorded() -> dict[str, list[RecordedTrade]]:
    """Both real recordings, by symbol."""
    return all_recorded_trades()


@pytest.fixture(scope="session")
def recordings_db(new_database: Callable[[], str], recorded: dict[str, list[RecordedTrade]]) -> str:
    """A migrated database holding every trade of both recordings (plus candles and levels)."""
    url = new_database()
    migrate.upgrade(url, create_database=False)
    ticks = [to_tick(r) for trades in recorded.values() for r in trades]
    store_ticks(url, ticks)
    return url


@pytest.fixture
def api_settings(
    recordings_db: str, redis_url: str, redis_prefix: str
) -> Callable[..., ApiSettings]:
    """A factory of API settings on the recordings database, as the read-only role."""

    def make(**overrides: Any) -> ApiSettings:
        values: dict[str, Any] = {
            "database_url": recordings_db,
            "api_database_url": as_role(recordings_db, READ_ONLY_ROLE),
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "api_cache_ttl_seconds": 0,
        }
        values.update(overrides)
        return ApiSettings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def latest_prices(
    recorded: dict[str, list[RecordedTrade]], redis_client: Any, redis_prefix: str
) -> dict[str, Tick]:
    """The latest-price cache filled as the writer would; return each symbol's last trade."""
    keys = RedisKeys(redis_prefix)
    latest = {}
    for symbol, trades in recorded.items():
        latest[symbol] = last = to_tick(max(trades, key=lambda r: (r.trade_time_ms, r.trade_id)))
        redis_client.hset(keys.latest(symbol), mapping=latest_to_hash(last))
    return latest


@pytest.fixture
def client(
    api_settings: Callable[..., ApiSettings], latest_prices: dict[str, Tick]
) -> Iterator[FlaskClient]:
    """A test client of the API, with the latest-price cache filled as the writer would."""
    app = create_app(api_settings())
    with app.test_client() as c:
        yield c
    app.extensions["tickvault"].stores.close()


def get(client: FlaskClient, url: str, status: int = 200) -> Any:
    """GET *url*; check its status; return its JSON body."""
    response = client.get(url)
    assert response.status_code == status, (url, response.data[:300])
    return response.get_json()


@pytest.fixture(scope="module")
def trades(recorded: dict[str, list[RecordedTrade]]) -> dict[str, list[ex.T]]:
    """Both recordings as the independent expectations read them, by symbol."""
    return {symbol: ex.trades_of(rs) for symbol, rs in recorded.items()}
