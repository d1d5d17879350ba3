"""Helpers the auditor's integration tests share: recorded trades as ticks, polling, reading
``trades`` back, and feeding and draining the stream through a writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy import Engine, text
from tests.support.polling import wait_until
from tests.support.recordings import RecordedTrade

from tickvault.codec import GapRecord, to_fields
from tickvault.keys import RedisKeys
from tickvault.tick import Tick
from tickvault_writer.service import Writer


def tick_of(t: RecordedTrade) -> Tick:
    """Return a recorded trade as the collector would normalize it."""
    return Tick(
        t.symbol,
        t.trade_id,
        t.price,
        t.quantity,
        t.trade_time_ms * 1000,
        t.event_time_ms * 1000,
        t.is_buyer_maker,
        t.event_time_ms * 1000 + 777,
    )


def wait(
    predicate: Callable[[], Any],
    what: str,
    timeout: float = 60,
    logs: Callable[[], str] = lambda: "",
) -> None:
    """Poll *predicate* until it holds; fail naming *what* (and the tail of *logs*)."""
    wait_until(predicate, timeout, what, context=lambda: logs()[-4000:])


def stored(engine: Engine) -> dict[tuple[str, int], tuple[str, str]]:
    """Return every stored trade's exact price and quantity text, by (symbol, trade id)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, trade_id, price::text, quantity::text FROM trades")
        )
        return {(s, int(i)): (p, q) for s, i, p, q in rows}


def feed(client: redis.Redis, keys: RedisKeys, entries: list[Tick | GapRecord]) -> None:
    """Append *entries* to the stream in one pipeline."""
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        pipe.xadd(keys.stream, to_fields(entry))  # type: ignore[arg-type]
    pipe.execute()


def drain(writer: Writer, client: redis.Redis, keys: RedisKeys) -> None:
    """Let the writer store every entry in the stream."""
    total = client.xlen(keys.stream)
    wait(lambda: writer.step() >= 0 and writer.totals.entries >= total, "the writer")
