"""Any names Binance's rules allow, UTF-8 included, through the whole pipeline on the replay:
the replay lists them (``--synthetic``), the collector finds them with ``TICKVAULT_SYMBOLS=ALL``
and subscribes their (ASCII-lower-cased) streams, the writer stores them in PostgreSQL and the
API serves them by percent-encoded paths, exactly as stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from tests.private_servers import Services, recording_services, replay_process
from tests.support.polling import wait_until
from tests.support.symbol_names import utf8_symbol_names

from tickvault.symbols import stream_symbol
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

PER_SYMBOL = 20  # trades each name must reach PostgreSQL with


@pytest.fixture
def services(
    database_url: str, redis_url: str, redis_prefix: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Services]:
    with recording_services(tmp_path, database_url, redis_url, redis_prefix) as made:
        made.env["TICKVAULT_SYMBOLS"] = "ALL"
        yield made


def _stored(engine: Engine, names: list[str]) -> dict[str, tuple[int, int, str]]:
    """Return each name's (count, last id, last price) in PostgreSQL."""
    sql = text(
        "SELECT symbol, count(*), max(trade_id),"
        " (array_agg(price::text ORDER BY trade_id DESC))[1]"
        " FROM trades WHERE symbol = ANY(:names) GROUP BY symbol"
    )
    with engine.connect() as conn:
        return {row[0]: (row[1], row[2], row[3]) for row in conn.execute(sql, {"names": names})}


@settings(
    max_examples=3,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=st.lists(utf8_symbol_names(12), min_size=2, max_size=3, unique_by=stream_symbol))
def test_any_allowed_names_are_captured_stored_and_served(
    names: list[str],
    services: Services,
    clean_db: Engine,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    with clean_db.begin() as conn:  # each example stores its own trades, from nothing
        conn.execute(text("TRUNCATE trades, candles_1m, price_levels_1m, trade_gaps"))
    started_ms = int(time.time() * 1000)
    with replay_process("--synthetic", ",".join(names), "--rate", "50") as replay:
        services.env["TICKVAULT_BINANCE_WS_URL"] = replay.ws_url
        services.env["TICKVAULT_BINANCE_REST_URL"] = replay.rest_url
        services.start("writer", "tickvault_writer")
        services.start("collector", "tickvault_collector")
        try:
            wait_until(
                lambda: (
                    all(c >= PER_SYMBOL for c, _, _ in _stored(clean_db, names).values())
                    and len(_stored(clean_db, names)) == len(names)
                ),
                90,
                f"{PER_SYMBOL} trades of each of {names!r}",
                interval=0.3,
            )
        except AssertionError:
            raise AssertionError(services.log("collector")[-3000:]) from None
        finally:
            codes = services.terminate()
    assert codes == {"writer": 0, "collector": 0}
    stored = _stored(clean_db, names)
    assert set(stored) == set(names)
    api = create_app(
        ApiSettings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            symbols=("ALL",),
        )
    )
    client = api.test_client()
    listed: Any = client.get("/api/v1/symbols").get_json()
    assert set(names) <= {s["symbol"] for s in listed["symbols"]}, listed
    for name in names:
        count, last_id, last_price = stored[name]
        latest: Any = client.get(f"/api/v1/prices/{quote(name)}/latest").get_json()
        assert latest["symbol"] == name and latest["trade_id"] >= last_id, latest
        window = f"start={started_ms - 60_000}&end={int(time.time() * 1000) + 60_000}"
        history: Any = client.get(
            f"/api/v1/prices/{quote(name)}/history?{window}&limit=5000"
        ).get_json()
        ids = [t["trade_id"] for t in history["trades"]]
        assert len(ids) == count and ids == sorted(ids) and ids[-1] == last_id, name
        assert Decimal(history["trades"][-1]["price"]) == Decimal(last_price)
    api.extensions["tickvault"].stores.close()
