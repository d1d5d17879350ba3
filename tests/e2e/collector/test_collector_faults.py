"""The collector under the replay's faults still ends up with every trade id, and never exits."""

from __future__ import annotations

import redis
from tests.e2e.collector.conftest import (
    Capture,
    Recorded,
    seed_resume,
)

from tickvault.codec import GapStatus


def _ids(recorded: Recorded, symbol: str, *fractions: float) -> list[int]:
    trades = recorded[symbol]
    return [trades[int(len(trades) * f)].trade_id for f in fractions]


def test_dropped_duplicated_and_malformed_frames_lose_nothing(
    capture: Capture, recorded: Recorded
) -> None:
    faults = {
        "faults": [
            {"type": "drop", "fraction": 0.02, "seed": 7},
            {"type": "duplicate", "fraction": 0.02, "seed": 8, "copies": 2},
            {"type": "malformed", "fraction": 0.005, "seed": 9, "kind": "truncated"},
            {"type": "malformed", "fraction": 0.005, "seed": 10, "kind": "wrong_types"},
            {"type": "malformed", "fraction": 0.005, "seed": 11, "kind": "binary"},
            {"type": "malformed", "fraction": 0.005, "seed": 12, "kind": "unknown_event"},
            # the very last trades of each symbol vanish: only the quiet-symbol check finds them
            {
                "type": "drop",
                "trade_ids": [recorded["BTCUSDT"][-1].trade_id, recorded["ETHUSDT"][-1].trade_id],
            },
        ]
    }
    content, collector = capture(["--speed", "0", "--ping-interval", "1"], 100, faults)
    statuses = {g.status for g in content.gaps}
    assert statuses == {GapStatus.DETECTED, GapStatus.FILLED}
    detected = {
        (g.symbol, g.first_id, g.last_id) for g in content.gaps if g.status is GapStatus.DETECTED
    }
    filled = {
        (g.symbol, g.first_id, g.last_id) for g in content.gaps if g.status is GapStatus.FILLED
    }
    assert detected == filled
    assert len(detected) > 100
    log = collector.log()
    assert "malformed frame" in log
    assert log.count("malformed frame") <= 10  # logged at a bounded rate


def test_abrupt_closes_shutdown_silence_and_handshake_storms_lose_nothing(
    capture: Capture,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: Recorded,
) -> None:
    btc = _ids(recorded, "BTCUSDT", 0.1, 0.2, 0.3, 0.4, 0.55, 0.7)
    faults = {
        "faults": [
            {"type": "drop", "fraction": 0.02, "seed": 3},
            *({"type": "abrupt_close", "symbol": "BTCUSDT", "at_trade_id": i} for i in btc[:4]),
            {
                "type": "server_shutdown",
                "symbol": "BTCUSDT",
                "at_trade_id": btc[4],
                "close_after_s": 2.0,
            },
            {"type": "silence", "symbol": "BTCUSDT", "at_trade_id": btc[5], "seconds": 10},
            {"type": "handshake_429", "count": 3, "retry_after": 1},
        ]
    }
    seed_resume(redis_client, redis_prefix, recorded)
    _content, collector = capture(["--speed", "25", "--ping-interval", "1"], 110, faults)
    log = collector.log()
    for event in (
        "handshake refused with 429",
        "serverShutdown on link",
        "silent for",
        "delivers; closing link",
        "ended (abrupt)",
    ):
        assert event in log, event


def test_the_scaled_down_24h_cut_and_rest_429_bursts_lose_nothing(
    capture: Capture,
    redis_client: redis.Redis,
    redis_prefix: str,
    recorded: Recorded,
) -> None:
    faults = {
        "faults": [
            {"type": "drop", "fraction": 0.02, "seed": 5},
            {"type": "lifetime", "seconds": 5},
            {
                "type": "rest_error",
                "status": 429,
                "count": 5,
                "retry_after": 1,
                "path": "/api/v3/historicalTrades",
            },
        ]
    }
    seed_resume(redis_client, redis_prefix, recorded)
    _content, collector = capture(
        ["--speed", "25", "--ping-interval", "1"],
        110,
        faults,
        lifetime_s=3.5,
        lifetime_jitter_s=0.5,
    )
    log = collector.log()
    for event in (
        "reached its lifetime",
        "delivers; closing link",
        "/api/v3/historicalTrades answered 429",
    ):
        assert event in log, event
