"""A real third-party client (binance-connector from PyPI), unmodified, against the replay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient
from tests.support.paths import TRADE_RECORDINGS
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault_replay import ReplayConfig, RunningReplay, running_replay

pytestmark = pytest.mark.unit


@contextlib.contextmanager
def replay_in_thread(config: ReplayConfig) -> Iterator[RunningReplay]:
    """Serve the replay on its own event loop in a thread (the client library blocks)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    holder: list[RunningReplay] = []

    async def main() -> None:
        async with running_replay(config) as replay:
            holder.append(replay)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the replay did not start"
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def test_binance_connector_streams_trades_and_backfills_from_the_replay() -> None:
    recorded = all_recorded_trades()["BTCUSDT"]
    config = ReplayConfig(recordings=tuple(str(p) for p in TRADE_RECORDINGS), speed=0.0, port=0)
    messages: list[dict[str, Any]] = []
    got = threading.Event()

    def on_message(_: object, text: str) -> None:
        messages.append(json.loads(text))
        if sum(1 for m in messages if "data" in m) >= 200:
            got.set()

    with replay_in_thread(config) as replay:
        stream = SpotWebsocketStreamClient(
            stream_url=replay.ws_url, on_message=on_message, is_combined=True
        )
        try:
            stream.trade(symbol="btcusdt", id=1)
            assert got.wait(30), f"only {len(messages)} messages"
        finally:
            stream.stop()
            stream.socket_manager.ws.shutdown()  # stop() leaves the socket open
        spot = Spot(base_url=replay.rest_url)
        wait_until(
            lambda: replay.server.market.stats()["symbols"]["BTCUSDT"]["trades_available"],
            30,
            "500 BTCUSDT trades available",
            0.01,
            until=lambda n: n >= 500,
        )
        backfill = spot.historical_trades("BTCUSDT", fromId=recorded[100].trade_id, limit=50)
        recent = spot.trades("BTCUSDT", limit=5)
        info = spot.exchange_info(symbol="BTCUSDT")
        with pytest.raises(Exception, match="-1121"):
            spot.historical_trades("NOPEUSDT")
        spot.session.close()

    assert messages[0] == {"result": None, "id": 1}
    trades = [m["data"] for m in messages if "data" in m]
    assert [t["t"] for t in trades[:200]] == [t.trade_id for t in recorded[:200]]
    assert trades[0] == json.loads(recorded[0].raw)["data"]
    assert [r["id"] for r in backfill] == [t.trade_id for t in recorded[100:150]]
    assert backfill[0]["price"] == recorded[100].price and len(recent) == 5
    assert info["symbols"][0]["symbol"] == "BTCUSDT"
