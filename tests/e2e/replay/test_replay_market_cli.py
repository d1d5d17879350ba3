"""``tickvault-replay`` as a process with a synthetic market: ids that grow across restarts,
``--synthetic-market`` with a real universe, scripted listings, and bad flags."""

from __future__ import annotations

import gzip
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from tests.private_servers import ReplayProcess, replay_process
from tests.support.paths import FULL_EXCHANGE_INFO
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e


def _wait(check: Any, seconds: float = 30.0) -> None:
    wait_until(check, seconds, "the replay's stats to show it")


def _last_ids(replay: ReplayProcess) -> dict[str, int]:
    stats = replay.stats()["symbols"]
    return {s: v["last_trade_id"] for s, v in stats.items() if v["last_trade_id"] is not None}


@pytest.mark.parametrize(
    "args",
    [
        ("--synthetic", "BTCUSDT,ETHUSDT", "--rate", "50"),
        ("--synthetic-market", "100", "--top-rate", "100"),
    ],
)
def test_a_restarted_replay_prints_ids_above_every_id_the_first_run_printed(
    args: tuple[str, ...],
) -> None:
    with replay_process(*args) as first:
        _wait(lambda: len(_last_ids(first)) >= 2)
        time.sleep(0.5)
        printed = _last_ids(first)
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=20) == 0
    with replay_process(*args) as second:
        _wait(lambda: set(printed) <= set(_last_ids(second)), 60)
        stats = second.stats()["symbols"]
        for symbol, last in printed.items():
            assert stats[symbol]["first_trade_id"] > last, symbol
            rows = second.get("/api/v3/historicalTrades", symbol=symbol, fromId="0")
            ids = [r["id"] for r in rows]
            assert ids[0] > last and ids == list(range(ids[0], ids[0] + len(ids)))


def test_a_fixed_first_id_makes_the_ids_deterministic() -> None:
    with replay_process("--synthetic", "ETHUSDT", "--first-id", "0", "--rate", "50") as replay:
        _wait(lambda: "ETHUSDT" in _last_ids(replay))
        assert replay.stats()["symbols"]["ETHUSDT"]["first_trade_id"] == 0


def test_a_real_universe_and_a_scripted_listing_halt_and_delisting(tmp_path: Path) -> None:
    script = tmp_path / "events.json"
    script.write_text(
        json.dumps(
            {
                "faults": [
                    {"type": "list", "symbol": "NEWUSDT", "after_s": 1, "first_id": 0},
                    {"type": "status", "symbol": "BTCUSDT", "status": "HALT", "after_s": 1},
                    {"type": "delist", "symbol": "ETHBTC", "after_s": 1},
                ]
            }
        )
    )
    args = ["--synthetic-market", "120", "--universe", str(FULL_EXCHANGE_INFO)]
    with replay_process(*args, "--faults", str(script)) as replay:
        info = replay.get("/api/v3/exchangeInfo")["symbols"]
        real = json.loads(gzip.decompress(FULL_EXCHANGE_INFO.read_bytes()))
        assert [s["symbol"] for s in info] == [s["symbol"] for s in real["symbols"][:120]]
        assert [s["status"] for s in info] == [s["status"] for s in real["symbols"][:120]]

        def listed() -> dict[str, str]:
            body = replay.get("/api/v3/exchangeInfo")["symbols"]
            return {s["symbol"]: s["status"] for s in body}

        def applied(now: dict[str, str]) -> bool:  # the three events land one by one
            return (
                now.get("NEWUSDT") == "TRADING"
                and now.get("BTCUSDT") == "HALT"
                and ("ETHBTC" not in now)
            )

        _wait(lambda: applied(listed()))
        now = listed()
        assert now["NEWUSDT"] == "TRADING" and now["BTCUSDT"] == "HALT" and "ETHBTC" not in now
        _wait(lambda: replay.stats()["symbols"]["NEWUSDT"]["trades_available"] > 0)
        assert replay.stats()["symbols"]["NEWUSDT"]["first_trade_id"] == 0
        report = replay.rest_report()
        assert report["endpoints"]["/api/v3/exchangeInfo"]["requests"] >= 3
        assert report["rate_limited"] == {"429": 0, "418": 0}


@pytest.mark.parametrize(
    "args",
    [
        ("--synthetic-market", "0"),
        ("--synthetic-market", "10", "--universe", "/nonexistent/info.json"),
        ("--synthetic", "BTCUSDT", "--universe", "/nonexistent/info.json"),
        ("--synthetic-market", "10", "--top-rate", "-1"),
    ],
)
def test_bad_market_flags_exit_2_with_one_line(args: tuple[str, ...]) -> None:
    with pytest.raises(RuntimeError, match="exited 2"), replay_process(*args):
        pass
