"""Load recorded trades into PostgreSQL through the writer's own write path."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from tests.support.recordings import RecordedTrade

from tickvault.tick import Tick

READ_ONLY_ROLE = "tickvault_api"


def to_tick(r: RecordedTrade) -> Tick:
    """Return the tick the collector would make of a recorded trade."""
    return r.tick()


def store_ticks(url: str, ticks: list[Tick], batch: int = 3000) -> None:
    """Store ticks through the writer's batch write."""
    from tickvault_writer.batch import Batch
    from tickvault_writer.store import PgStore

    store = PgStore(url, application_name="tickvault-api-tests")
    try:
        for i in range(0, len(ticks), batch):
            chunk = tuple(ticks[i : i + batch])
            store.write(Batch(ids=(), ticks=chunk, tick_ids=(), gaps=(), gap_ids=(), dead=()))
    finally:
        store.close()


def as_role(url: str, role: str) -> str:
    """Return *url* connecting as *role* (trust authentication on the test server)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)
