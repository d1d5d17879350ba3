"""``tickvault-api`` under Gunicorn as a subprocess, on a database holding the recordings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from tests.integration.api.loading import store_ticks, to_tick
from tests.support.recordings import all_recorded_trades
from tests.support.servers import free_port

from tickvault.codec import latest_to_hash
from tickvault.db import migrate
from tickvault.keys import RedisKeys
from tickvault.tick import Tick


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *predicate* every 0.1 s until it holds; fail naming *what* after *timeout* s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def answers(url: str) -> bool:
    """Return whether GET *url* answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_api(tmp_path: Path, settings: dict[str, str]) -> Iterator[str]:
    """Run ``tickvault-api`` with *settings* on a free port; yield its base URL.

    It is stopped with SIGTERM (Gunicorn stops its workers gracefully) and must exit 0.
    """
    port = free_port()
    env = {
        **os.environ,
        **settings,
        "TICKVAULT_API_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tickvault_api"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(base + "/readyz"), 30, "the API to be ready")
        yield base
    finally:
        process.terminate()
        status = process.wait(timeout=30)
        log.close()
    assert status == 0, (tmp_path / "api.log").read_text()[-2000:]


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
