"""An import while the pipeline captures live: the past meets the present with no hole, and
no trade is stored twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.archive.conftest import day
from tests.private_servers import Services, stack_env
from tests.support.polling import wait_until


def test_an_import_during_live_capture_meets_it_without_a_hole(
    archive: Any, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    a = archive(day(-2), live_rate="5")
    env = stack_env(
        a.database_url,
        redis_url,
        redis_prefix,
        SYMBOLS="BTCUSDT",
        RETENTION_HOURS="0",
        CANDLE_RETENTION_DAYS="0",
        BINANCE_WS_URL=a.replay.ws_url,
        BINANCE_REST_URL=a.replay.rest_url,
        COLLECTOR_AUDIT_INTERVAL_S="0",
    )
    services = Services(env, tmp_path)
    try:
        services.start("collector", "tickvault_collector")
        services.start("writer", "tickvault_writer")
        live_first = wait_until(
            lambda: a.query("SELECT min(trade_id) FROM trades")[0][0], 90, "live trades", 0.25
        )
        status, summary, err = a.run("BTCUSDT", "--from", day(-2).isoformat(), timeout=300)
        assert status == 0, err
        (report,) = summary["symbols"]
        assert report["last_id"] == live_first - 1  # ran on to the first live trade
        assert [f["period"] for f in report["files"]] == [day(-2).isoformat(), day(-1).isoformat()]
        time.sleep(2)  # live capture goes on; then stop it cleanly
        assert set(services.terminate().values()) == {0}
    finally:
        services.kill()
    ((count, low, high, distinct),) = a.query(
        "SELECT count(*), min(trade_id), max(trade_id), count(DISTINCT trade_id) FROM trades"
    )
    assert low == report["first_id"] and high > live_first
    assert count == distinct == high - low + 1
    assert a.query("SELECT count(*) FROM trade_gaps WHERE status <> 'filled'") == [(0,)]
