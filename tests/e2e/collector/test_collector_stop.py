"""SIGTERM stops a collector within seconds even mid-flood, having published what it held."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import redis
from tests.e2e.collector.conftest import (
    RECORDINGS,
    CollectorProcess,
    StreamContent,
    read_stream,
)
from tests.private_servers import replay_process

from tickvault.keys import RedisKeys
from tickvault.tick import Source

Start = Callable[..., CollectorProcess]
EXIT_WITHIN_S = 8.0


def test_sigterm_during_a_full_speed_flood_with_drops_exits_0_within_seconds(
    start_collector: Start,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    stream = RedisKeys(redis_prefix).stream
    content = StreamContent()
    with replay_process(*RECORDINGS, "--speed", "0", "--loop") as replay:
        replay.post_faults({"faults": [{"type": "drop", "fraction": 0.01, "seed": 21}]})
        # A tiny REST budget: the backfill soon waits for the next weight minute, the audit
        # loop runs every half second against an unreachable PostgreSQL.
        collector = start_collector(replay, rest_weight_limit=200, audit_interval_s=0.5)
        collector.read_until(
            redis_client,
            stream,
            content,
            lambda c: sum(len(t) for t in c.ticks.values()) > 30_000 and c.gaps,
            60,
            "30,000 trades and a gap",
            0.05,
        )
        began = time.monotonic()
        assert collector.terminate(timeout=30) == 0
        took = time.monotonic() - began
    log = collector.log()
    assert took < EXIT_WITHIN_S, f"exit took {took:.1f}s:\n{log[-4000:]}"
    final = re.findall(r"stopped: frames=\d+ trades=(\d+) .*backfilled=(\d+) .*buffered=(\d+)", log)
    assert len(final) == 1, log[-4000:]
    trades, backfilled, buffered = (int(v) for v in final[0])
    assert buffered == 0
    read_stream(redis_client, stream, content)
    ticks = [t for by_id in content.ticks.values() for t in by_id.values()]
    assert sum(t.source is Source.WS for t in ticks) == trades > 30_000
    assert sum(t.source is Source.BACKFILL for t in ticks) == backfilled
    assert "audit skipped: PostgreSQL unreachable" in log
    assert "would not stop" not in log
