"""Issue 15's scenarios end to end, audits off: every recorded trade stored exactly once, every
gap filled, and the gaps say why they opened."""

from __future__ import annotations

import signal
import time

from sqlalchemy import text
from tests.e2e.noloss.conftest import Pipeline

from tickvault.codec import from_fields
from tickvault.tick import Tick


def _repaired(p: Pipeline, reason: str | None = None) -> None:
    """Wait for the repair and check it exactly; check a gap opened for *reason* (if named)."""
    repair = p.repaired()
    if reason is not None:
        assert reason in {g[4] for g in p.gaps()}
    print(f"repaired in {repair:.1f} s")


def test_writers_paused_while_many_times_the_stream_bound_flows(pipeline: Pipeline) -> None:
    p = pipeline
    p.seed_resume()
    p.start_writer_and_group("w1", frozen=True)
    p.start_collector(STREAM_MAXLEN="1000", COLLECTOR_BUFFER_MAX="2000")
    # 34,419 trades flow against a bound of 1,000 entries and a buffer of 2,000.
    p.wait(lambda: _overflowed(p), "the full stream to overflow the buffer", 60)
    backlog = p.client().xlen(p.keys.stream)
    assert backlog <= 1000 + 1000, backlog  # the bound, plus at most one batch
    p.signal("w1", signal.SIGCONT)
    _repaired(p, "buffer_overflow")


def _overflowed(p: Pipeline) -> bool:
    return (
        "stream backlog" in p.services.log("collector")
        and "overflow=0" not in (p.services.log("collector").rsplit("summary:", 1)[-1])
    )


def test_redis_restarted_empty_while_entries_were_unread(pipeline: Pipeline) -> None:
    p = pipeline
    p.seed_resume()
    p.start_writer_and_group("w1", frozen=True)
    p.start_collector()
    p.wait(lambda: p.client().xlen(p.keys.stream) >= 20_000, "unread entries", 60)
    p.redis.restart()  # no persistence: every unread entry is gone
    p.signal("w1", signal.SIGCONT)
    _repaired(p, "stream_lost")
    assert "Redis lost entries" in p.services.log("collector")


def test_redis_at_maxmemory_refuses_the_collector_for_a_while(pipeline: Pipeline) -> None:
    p = pipeline
    p.seed_resume()
    p.start_writer_and_group("w1")
    admin = p.client()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]))
    p.start_collector(COLLECTOR_BUFFER_MAX="2000")
    p.wait(lambda: "buffering" in p.services.log("collector"), "refused appends", 60)
    time.sleep(3)  # the replay keeps sending: the buffer overflows
    admin.config_set("maxmemory", 0)
    _repaired(p, "buffer_overflow")


def test_collector_killed_during_a_large_backfill(pipeline: Pipeline) -> None:
    p = pipeline
    first, last = _drop_twelve_pages(p)
    p.start_writer("w1")
    # A slow REST budget (one page a second) keeps the backfill running long enough to kill.
    p.start_collector(COLLECTOR_REST_WEIGHT_LIMIT="3000")
    p.wait(lambda: _stored_in(p, first, last) >= 2000, "part of the backfill stored", 60)
    assert _stored_in(p, first, last) < last - first + 1, "the backfill finished before the kill"
    p.kill("collector")
    p.start_collector("collector")
    _repaired(p)


def test_redis_restarted_empty_after_the_last_append(pipeline: Pipeline) -> None:
    """Redis loses backfilled pages after the collector's last append, with nothing more to
    append (the recordings are over): the collector's idle probe notices the loss, and the
    pages are fetched again (the mixed chaos run's auditor found such holes no collector had
    recorded)."""
    p = pipeline
    first, last = _drop_twelve_pages(p)
    # A frozen writer acknowledges nothing: every page stays in the stream.
    p.start_writer_and_group("w1", frozen=True)
    p.start_collector()
    p.wait(lambda: _streamed_in(p, first, last) == last - first + 1, "the backfill", 60)
    p.redis.restart()  # the pages go with the rest of the stream
    p.signal("w1", signal.SIGCONT)
    _repaired(p, "stream_lost")


def _streamed_in(p: Pipeline, first: int, last: int) -> int:
    """Count the stream's BTCUSDT entries with ids in ``first..last`` (backfilled pages)."""
    found = 0
    for _, fields in p.client().xrange(p.keys.stream):
        tick = from_fields(fields)
        if isinstance(tick, Tick) and tick.symbol == "BTCUSDT" and first <= tick.trade_id <= last:
            found += 1
    return found


def _drop_twelve_pages(p: Pipeline) -> tuple[int, int]:
    """Have the replay leave 12,001 BTCUSDT trades out of the live feed (12 pages to
    backfill), resume every symbol before its recording; return the dropped ids' range."""
    btc = p.recorded["BTCUSDT"]
    first, last = btc[2000].trade_id, btc[14_000].trade_id
    p.replay.post_faults(
        {"faults": [{"type": "drop", "symbol": "BTCUSDT", "from_id": first, "to_id": last}]}
    )
    p.seed_resume()
    return first, last


def _stored_in(p: Pipeline, first: int, last: int) -> int:
    with p.db.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM trades WHERE symbol = 'BTCUSDT'"
                    " AND trade_id BETWEEN :a AND :b"
                ),
                {"a": first, "b": last},
            ).scalar()
            or 0
        )
