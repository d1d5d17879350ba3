"""Frame-to-cache and frame-to-commit latency at a paced replay, and memory over the run.

The replay exchange sends each trade when its clock reaches the trade's event time ``E``:
at ``--speed s`` a frame goes out at ``w + (E - c) / s``, where ``(w, c)`` is a pair of
wall time and replay clock read together from ``/_replay/stats`` (the pair with the
shortest round trip of several; its ``clock_ms`` is whole milliseconds, so the send time is
known to about 1 ms). From there:

- **db**: PostgreSQL's commit timestamp of the row's transaction
  (``pg_xact_commit_timestamp(xmin)``, the private server runs with
  ``track_commit_timestamp=on``) minus the send time of its ``E``;
- **cache**: the moment a subscriber of the latest-price channel receives the writer's
  message for a trade (the cache hash and the message change in one Lua call) minus the
  send time of that trade's ``E``. Only trades that became a symbol's latest are announced,
  so this is a sample: the newest trade of each writer batch.

Trades sent in the first ``WARMUP_S`` seconds (connections opening, first partitions being
created) are left out. The collector's and writers' RSS is read from ``/proc`` at the start
and end of the run and every ``RSS_EVERY_S`` in between (the soak).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import redis
from sqlalchemy import text
from tests.private_servers import PrivatePostgres, ReplayProcess
from tests.support.polling import wait_until

from common import Service, Stack, forget, pct, replay, rss_mb
from ingest import drained, fresh_database
from tickvault.db.engine import make_engine
from tickvault.keys import RedisKeys

WARMUP_S = 5.0
RSS_EVERY_S = 30.0
_ROWS = text(
    "SELECT symbol, trade_id, (extract(epoch FROM event_time) * 1000000)::bigint,"
    " (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint FROM trades"
)


def clock_pair(rp: ReplayProcess, tries: int = 7) -> tuple[float, int]:
    """Return (wall µs, replay clock µs) read together, from the tightest of *tries*."""
    best: tuple[float, float, int] | None = None
    for _ in range(tries):
        before = time.time()
        clock_ms = int(rp.stats()["clock_ms"])
        after = time.time()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) / 2 * 1e6, clock_ms * 1000)
    assert best is not None
    return best[1], best[2]


class Announcements(threading.Thread):
    """Record when each latest-price message arrives: (symbol, trade id) → wall µs."""

    def __init__(self, redis_url: str, channel: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        self.seen: dict[tuple[str, int], float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is None:
                continue
            now = time.time() * 1e6
            body = msgspec.json.decode(message["data"])
            self.seen.setdefault((body["symbol"], int(body["trade_id"])), now)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.pubsub.close()
        self.client.close()


def _sample_rss(services: list[Service], series: dict[str, list[float]]) -> None:
    for svc in services:
        series.setdefault(svc.name, []).append(round(rss_mb(svc.pid), 1))


def run_paced(
    pg: PrivatePostgres,
    redis_url: str,
    run_dir: Path,
    *,
    speed: float,
    seconds: float,
    writers: int,
    tag: str,
) -> dict[str, Any]:
    """Run the pipeline at *speed* for *seconds*; return latency percentiles and RSS."""
    url = fresh_database(pg, f"tvbench_latency_{tag}")
    prefix = f"tvbench-latency-{tag}"
    keys = RedisKeys(prefix)
    stack = Stack(url, redis_url, prefix, run_dir)
    client = redis.Redis.from_url(redis_url)
    listener = Announcements(redis_url, keys.latest_channel)
    listener.start()
    rss: dict[str, list[float]] = {}
    try:
        with replay("--speed", f"{speed:g}", "--loop") as rp:
            procs = [stack.writer(f"{tag}-writer{i}") for i in range(writers)]
            procs.append(stack.collector(f"{tag}-collector", rp))
            started = time.monotonic()
            wait_until(
                lambda: client.exists(keys.latest("BTCUSDT")),
                60,
                "the first trade in the cache",
                0.1,
            )
            _sample_rss(procs, rss)
            pairs = [clock_pair(rp)]
            next_rss = time.monotonic() + RSS_EVERY_S
            while time.monotonic() - started < seconds:
                time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - started))))
                if time.monotonic() >= next_rss:
                    _sample_rss(procs, rss)
                    pairs.append(clock_pair(rp))
                    next_rss += RSS_EVERY_S
            _sample_rss(procs, rss)
            pairs.append(clock_pair(rp))
            procs[-1].stop(60)
            wait_until(lambda: drained(client, keys), 120, "the writers to drain", 0.1)
    finally:
        stack.stop_all()
        listener.stop()
        forget(client, prefix)
        client.close()
    return _figures(url, pairs, speed, listener.seen, rss)


def _figures(
    url: str,
    pairs: list[tuple[float, int]],
    speed: float,
    seen: dict[tuple[str, int], float],
    rss: dict[str, list[float]],
) -> dict[str, Any]:
    wall0, clock0 = pairs[0]

    def sent(event_us: int) -> float:
        return wall0 + (event_us - clock0) / speed

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(_ROWS).all()
    engine.dispose()
    first_sent = min(sent(int(e)) for _, _, e, _ in rows)
    events = {(s, int(i)): int(e) for s, i, e, _ in rows}
    db = [
        (int(c) - sent(int(e))) / 1000
        for _, _, e, c in rows
        if sent(int(e)) - first_sent > WARMUP_S * 1e6
    ]
    cache = [
        (at - sent(events[key])) / 1000
        for key, at in seen.items()
        if key in events and sent(events[key]) - first_sent > WARMUP_S * 1e6
    ]
    # How far the replay's pace drifted from the first clock pair (should be ~0).
    drift = max(abs((w - wall0) - (c - clock0) / speed) for w, c in pairs) / 1000
    return {
        "speed": speed,
        "trades": len(rows),
        "measured_db": len(db),
        "measured_cache": len(cache),
        "db_p50": round(pct(db, 0.5), 2),
        "db_p99": round(pct(db, 0.99), 2),
        "db_max": round(max(db), 2) if db else None,
        "cache_p50": round(pct(cache, 0.5), 2),
        "cache_p99": round(pct(cache, 0.99), 2),
        "clock_drift_ms": round(drift, 2),
        "rss_mb": rss,
    }
