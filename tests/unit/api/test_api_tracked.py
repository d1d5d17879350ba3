"""Tracked symbols: explicit names, ALL and patterns against the collector's symbols hash."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import fakeredis
import pytest
import redis

from tickvault.codec import latest_to_hash
from tickvault.keys import RedisKeys
from tickvault.symbols import Selection, Status, status_value
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.errors import Unavailable
from tickvault_api.settings import ApiSettings
from tickvault_api.tracked import TrackedSymbols, tracked_from

KEYS = RedisKeys("tickvault")
T0 = 1_723_161_600_000_000


def tick(symbol: str, trade_id: int = 1) -> Tick:
    return Tick(symbol, trade_id, "1.50000000", "2.00000000", T0, T0, False, T0)


def report(client: Any, statuses: dict[str, Status]) -> None:
    """Fill the symbols hash as the collector does."""
    client.hset(KEYS.symbols, mapping={s: status_value(st, T0) for s, st in statuses.items()})


def app_with(selection: str, client: Any, **settings: Any) -> Any:
    return create_app(
        ApiSettings(_env_file=None, symbols=selection, **settings),  # type: ignore[call-arg]
        redis=client,
    )


def test_explicit_names_are_tracked_whatever_the_hash_holds() -> None:
    raw = {b"XRPUSDT": status_value(Status.TRADING, T0), b"BTCUSDT": status_value(Status.HALT, 5)}
    tracked = tracked_from(Selection.parse(["BTCUSDT", "DOGEUSDT"]), raw)
    assert tracked.symbols == ("BTCUSDT", "DOGEUSDT")
    assert tracked.statuses == {"BTCUSDT": (Status.HALT, 5)}
    assert "XRPUSDT" not in tracked and "DOGEUSDT" in tracked


def test_all_and_patterns_add_the_reported_symbols_they_match() -> None:
    raw = {
        b"ETHBTC": status_value(Status.TRADING, 1),
        b"BTCUSDT": status_value(Status.TRADING, 2),
        b"XRPUSDT": status_value(Status.BREAK, 3),
        b"bad\xff": b"{}",  # not a symbol name: ignored
        b"lower": status_value(Status.TRADING, 4),
        b"ZILUSDT": b"not json",  # tracked, status unknown
    }
    usdt = tracked_from(Selection.parse(["*USDT", "ADABNB"]), raw)
    assert usdt.symbols == ("ADABNB", "BTCUSDT", "XRPUSDT", "ZILUSDT")
    assert usdt.statuses == {"BTCUSDT": (Status.TRADING, 2), "XRPUSDT": (Status.BREAK, 3)}
    everything = tracked_from(Selection.parse(["ALL"]), raw)
    assert everything.symbols == ("BTCUSDT", "ETHBTC", "XRPUSDT", "ZILUSDT")


def test_symbols_endpoint_shows_each_status_and_null_before_the_collector_reports() -> None:
    client = fakeredis.FakeRedis()
    report(client, {"BTCUSDT": Status.TRADING, "NOPEUSDT": Status.UNLISTED})
    client.hset(KEYS.latest("BTCUSDT"), mapping=latest_to_hash(tick("BTCUSDT")))
    app = app_with("BTCUSDT,NOPEUSDT,ETHUSDT", client)
    body = app.test_client().get("/api/v1/symbols").get_json()["symbols"]
    assert body == [
        {
            "symbol": "BTCUSDT",
            "has_data": True,
            "status": "TRADING",
            "status_since": "2024-08-09T00:00:00.000Z",
            "status_since_ms": T0 // 1000,
        },
        {
            "symbol": "NOPEUSDT",
            "has_data": False,
            "status": "UNLISTED",
            "status_since": "2024-08-09T00:00:00.000Z",
            "status_since_ms": T0 // 1000,
        },
        {
            "symbol": "ETHUSDT",
            "has_data": False,
            "status": None,
            "status_since": None,
            "status_since_ms": None,
        },
    ]


def test_a_pattern_selection_answers_for_reported_symbols_and_404s_the_rest() -> None:
    client = fakeredis.FakeRedis()
    report(client, {"BTCUSDT": Status.TRADING, "ETHBTC": Status.TRADING})
    client.hset(KEYS.latest("BTCUSDT"), mapping=latest_to_hash(tick("BTCUSDT")))
    app = app_with("*USDT", client).test_client()
    assert app.get("/api/v1/prices/btcusdt/latest").status_code == 200
    error = app.get("/api/v1/prices/ETHBTC/latest").get_json()["error"]
    assert error["code"] == "unknown_symbol" and "tracked symbols: BTCUSDT" in error["message"]
    assert [p["symbol"] for p in app.get("/api/v1/prices/latest").get_json()["prices"]] == [
        "BTCUSDT"
    ]


def test_the_tracked_set_is_cached_for_the_refresh_interval() -> None:
    client = fakeredis.FakeRedis()
    report(client, {"BTCUSDT": Status.TRADING})
    now = [0.0]
    symbols = TrackedSymbols(
        Selection.parse(["ALL"]),
        lambda: client.hgetall(KEYS.symbols),
        ttl_seconds=5,
        clock=lambda: now[0],
    )
    assert symbols.current().symbols == ("BTCUSDT",)
    report(client, {"ETHUSDT": Status.TRADING})  # a new listing
    now[0] = 4.9
    assert symbols.current().symbols == ("BTCUSDT",)
    now[0] = 5.0
    assert symbols.current().symbols == ("BTCUSDT", "ETHUSDT")


def test_when_redis_fails_the_last_answer_is_kept_or_the_names_or_unavailable() -> None:
    redis_up = [True]
    now = [0.0]

    def read() -> dict[bytes, bytes]:
        if not redis_up[0]:
            raise redis.ConnectionError("down")
        return {b"BTCUSDT": status_value(Status.TRADING, 1)}

    symbols = TrackedSymbols(Selection.parse(["*USDT"]), read, ttl_seconds=1, clock=lambda: now[0])
    assert symbols.current().symbols == ("BTCUSDT",)
    redis_up[0], now[0] = False, 2.0
    assert symbols.current().symbols == ("BTCUSDT",)  # Redis down: the last answer stays
    assert TrackedSymbols(Selection.parse(["ETHUSDT"]), read, ttl_seconds=1).current().symbols == (
        "ETHUSDT",
    )
    with pytest.raises(Unavailable, match="TICKVAULT_SYMBOLS"):
        TrackedSymbols(Selection.parse(["ALL"]), read, ttl_seconds=1).current()


def test_two_thousand_symbols_answer_in_full_and_errors_stay_short() -> None:
    client = fakeredis.FakeRedis()
    names = [f"C{i:04d}USDT" for i in range(2000)]
    report(client, dict.fromkeys(names, Status.TRADING))
    pipe = client.pipeline()
    for i, name in enumerate(names):
        if i % 2 == 0:
            pipe.hset(KEYS.latest(name), mapping=latest_to_hash(tick(name, i + 1)))
    pipe.execute()
    app = app_with("ALL", client).test_client()
    symbols = app.get("/api/v1/symbols").get_json()["symbols"]
    assert [s["symbol"] for s in symbols] == names
    assert sum(s["has_data"] for s in symbols) == 1000
    prices = app.get("/api/v1/prices/latest").get_json()["prices"]
    assert [p["symbol"] for p in prices] == names[::2]
    response = app.get("/api/v1/prices/NOPE/latest")
    assert response.status_code == 404 and len(response.data) < 600


def test_a_symbol_path_folds_ascii_letters_only_and_keeps_every_other_character_as_listed() -> None:
    client = fakeredis.FakeRedis()
    listed = "ÄＢ币USDT"  # a Latin-1 letter, a full-width letter, a CJK character
    client.hset(KEYS.latest(listed), mapping=latest_to_hash(tick(listed)))
    app = app_with(listed, client).test_client()
    for typed in ("ÄＢ币USDT", "ÄＢ币usdt", "ÄＢ币UsDt"):
        body = app.get(f"/api/v1/prices/{quote(typed)}/latest").get_json()
        assert body["symbol"] == listed, typed
    for typed in ("äＢ币USDT", "Äｂ币USDT"):  # other cases of Ä and of Ｂ: never folded
        error = app.get(f"/api/v1/prices/{quote(typed)}/latest").get_json()["error"]
        assert error["code"] == "unknown_symbol", typed
