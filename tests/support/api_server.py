"""``tickvault-api`` under Gunicorn as a subprocess, on a database holding the recordings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from tests.integration.api.loading import store_ticks, to_tick
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from tickvault.codec import latest_to_hash
from tickvault.db import migrate
from tickvault.keys import RedisKeys
from tickvault.tick import Tick

LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")  # Gunicorn, once bound


@contextmanager
def running_api(tmp_path: Path, settings: dict[str, str]) -> Iterator[str]:
    """Run ``tickvault-api`` with *settings* on a port the kernel picks when Gunicorn binds
    (port 0: none to lose to a race), read back from its log; yield its base URL once
    ``/readyz`` answers 200.

    It is stopped with SIGTERM (Gunicorn stops its workers gracefully) and must exit 0.
    """
    env = {
        **os.environ,
        **settings,
        "TICKVAULT_API_BIND": "127.0.0.1:0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log_path = tmp_path / "api.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tickvault_api"], env=env, stdout=log, stderr=subprocess.STDOUT
    )

    def logged() -> str:
        return log_path.read_text(errors="replace")[-2000:]

    def ready() -> str | None:
        assert process.poll() is None, f"tickvault-api exited:\n{logged()}"
        found = LISTENING.search(log_path.read_text(errors="replace"))
        if found is None:
            return None
        base = f"http://127.0.0.1:{found.group(1)}"
        with urllib.request.urlopen(base + "/readyz", timeout=1) as response:
            return base if response.status == 200 else None

    try:
        yield wait_until(ready, 30, "the API to be ready", 0.1, ignore=(OSError,), context=logged)
    finally:
        process.terminate()
        status = process.wait(timeout=30)
        log.close()
    assert status == 0, log_path.read_text()[-2000:]


def load_recordings(url: str, redis_url: str, redis_prefix: str, extra: list[Tick]) -> list[Tick]:
    """Store both recordings and *extra* in the migrated database *url* and set each
    symbol's latest price in Redis as the writer does; return the latest ticks."""
    migrate.upgrade(url, create_database=False)
    ticks = [to_tick(r) for trades in all_recorded_trades().values() for r in trades] + extra
    store_ticks(url, ticks)
    last: dict[str, Tick] = {}
    for tick in ticks:
        if tick.symbol not in last or tick.trade_id > last[tick.symbol].trade_id:
            last[tick.symbol] = tick
    client = redis.Redis.from_url(redis_url)
    keys = RedisKeys(redis_prefix)
    for tick in last.values():
        client.hset(keys.latest(tick.symbol), mapping=latest_to_hash(tick))
    client.close()
    return list(last.values())
