"""``tickvault-replay`` as a real process: port file, listening line, control API, SIGTERM."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import pytest
from tests.private_servers import replay_process
from tests.support.paths import TRADE_RECORDINGS
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e


def test_the_process_serves_reports_stats_takes_faults_and_exits_0_on_sigterm() -> None:
    args = [a for p in TRADE_RECORDINGS for a in ("--recording", str(p))]
    with replay_process(*args, "--speed", "0") as replay:
        stats = replay.stats()
        assert set(stats) == {"symbols", "finished", "connections", "clock_ms"}
        assert stats["symbols"]["BTCUSDT"]["last_trade_id"] is None
        assert replay.post_faults({"faults": [{"type": "drop", "trade_ids": [1]}]}) == {"loaded": 1}
        url = f"{replay.rest_url}/api/v3/exchangeInfo"
        with urllib.request.urlopen(url, timeout=10) as resp:
            symbols = [s["symbol"] for s in json.loads(resp.read())["symbols"]]
        assert symbols == ["BTCUSDT", "ETHUSDT"]
        assert f"tickvault-replay listening on http://127.0.0.1:{replay.port}" in replay.log()
        replay.process.send_signal(signal.SIGTERM)
        assert replay.process.wait(timeout=20) == 0


def test_synthetic_market_runs_at_real_time() -> None:
    with replay_process("--synthetic", "BTCUSDT,ETHUSDT", "--seed", "5", "--rate", "50") as r:
        wait_until(
            lambda: r.stats()["symbols"]["ETHUSDT"]["trades_available"],
            20,
            "20 ETHUSDT trades available",
            until=lambda n: n >= 20,
        )
        clock = r.stats()["clock_ms"]
        assert abs(clock - time.time() * 1000) < 5_000


def test_a_bad_flag_exits_non_zero_with_one_line() -> None:
    with (
        pytest.raises(RuntimeError, match="exited 2"),
        replay_process("--synthetic", "BTCUSDT", "--speed", "-1"),
    ):
        pass
