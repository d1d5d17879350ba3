"""How far behind its primary the standby the API reads from may fall before its answers stop.

A standby answers with what it has replayed: trades its primary committed since are missing
from its answers. Within ``TICKVAULT_API_REPLICA_MAX_LAG_SECONDS`` the API answers from it
(an answer about the last seconds may trail the primary by that much). Beyond it every answer
that comes from PostgreSQL is refused as ``unavailable`` (503) with the reason — the same
reason ``/readyz`` gives — rather than answered incomplete without a word; ``latest``, the
live stream and ``symbols`` come from Redis and go on answering.

The result cache takes the lag into account too: a window counts as closed only once the
standby has replayed past its end (plus the cache's grace), so an answer it gave without the
window's last trades is not kept.

The lag is measured by a query of its own, so :class:`StandbyGate` measures at most once per
:data:`CHECK_INTERVAL_S` in each process and keeps the answer meanwhile; each measurement sets
``tickvault_api_replica_lag_seconds``. A failed measurement refuses nothing: the query that
follows meets the same failure and reports it as what it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tickvault.db.replica import ReplicaState
from tickvault_api.errors import Unavailable
from tickvault_api.refreshed import Refreshed

CHECK_INTERVAL_S = 1.0


def lag_problem(state: ReplicaState, limit_s: float) -> str | None:
    """Return why answers from *state*'s server are too far behind, or None when they are not."""
    if not state.standby:
        return None
    lag = state.lag_seconds
    if lag is not None and lag <= limit_s:
        return None
    behind = "has replayed nothing yet" if lag is None else f"is {lag:.0f} s behind its primary"
    return (
        f"the standby the API reads from {behind} "
        f"(TICKVAULT_API_REPLICA_MAX_LAG_SECONDS is {limit_s:g})"
    )


class StandbyGate:
    """Refuses database answers while the server the API reads from is a standby too far
    behind."""

    def __init__(
        self,
        measure: Callable[[], ReplicaState | None],
        limit_s: float,
        *,
        on_measure: Callable[[ReplicaState], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit_s = limit_s
        self._measure = measure
        self._on_measure = on_measure
        self._state = Refreshed(self._measured, CHECK_INTERVAL_S, what="the lag", clock=clock)

    def _measured(self) -> ReplicaState | None:
        state = self._measure()
        if state is not None:
            self._on_measure(state)
        return state

    def measure(self) -> ReplicaState | None:
        """Measure now; return where the API's connections land and how far behind (None:
        PostgreSQL did not answer)."""
        return self._state.refresh()

    def behind_us(self) -> int:
        """Return how far behind its primary the server read from was when last measured, in
        µs (0 on a primary, or before any measurement)."""
        state = self._state.last
        if state is None or not state.standby or state.lag_seconds is None:
            return 0
        return int(state.lag_seconds * 1_000_000)

    def check(self) -> None:
        """Raise :class:`Unavailable` with the reason while the standby is too far behind
        (measured again when the last measurement is older than :data:`CHECK_INTERVAL_S`)."""
        state = self._state.get()
        if state is None:
            return
        problem = lag_problem(state, self.limit_s)
        if problem is not None:
            raise Unavailable(f"{problem}; try again shortly")
