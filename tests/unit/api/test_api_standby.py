"""The standby gate: answers from a standby past TICKVAULT_API_REPLICA_MAX_LAG_SECONDS are
refused with the reason, the lag is measured at most once a second, and a primary (or a
failed measurement) refuses nothing."""

from __future__ import annotations

import pytest

from tickvault.db.replica import ReplicaState
from tickvault_api.errors import Unavailable
from tickvault_api.standby import CHECK_INTERVAL_S, StandbyGate, lag_problem


class Server:
    """What the gate measures: a server whose state the test sets, and the count of asks."""

    def __init__(self, state: ReplicaState | None) -> None:
        self.state = state
        self.asked = 0

    def measure(self) -> ReplicaState | None:
        self.asked += 1
        return self.state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate(server: Server, clock: Clock, seen: list[ReplicaState]) -> StandbyGate:
    return StandbyGate(server.measure, 5.0, on_measure=seen.append, clock=clock)


def test_a_standby_within_the_limit_answers_and_one_past_it_is_refused_with_its_lag() -> None:
    server, clock, seen = Server(ReplicaState(standby=True, lag_seconds=4.0)), Clock(), []
    standby = gate(server, clock, seen)
    standby.check()
    server.state = ReplicaState(standby=True, lag_seconds=12.4)
    clock.now += CHECK_INTERVAL_S
    with pytest.raises(Unavailable) as refused:
        standby.check()
    assert refused.value.message == (
        "the standby the API reads from is 12 s behind its primary "
        "(TICKVAULT_API_REPLICA_MAX_LAG_SECONDS is 5); try again shortly"
    )
    assert seen == [ReplicaState(True, 4.0), ReplicaState(True, 12.4)]


def test_the_lag_is_measured_at_most_once_per_interval() -> None:
    server, clock, seen = Server(ReplicaState(standby=True, lag_seconds=0.0)), Clock(), []
    standby = gate(server, clock, seen)
    for _ in range(50):
        standby.check()
    assert server.asked == 1
    server.state = ReplicaState(standby=True, lag_seconds=60.0)
    clock.now += CHECK_INTERVAL_S / 2
    standby.check()  # the last measurement still stands
    clock.now += CHECK_INTERVAL_S / 2
    with pytest.raises(Unavailable):
        standby.check()
    assert server.asked == 2


def test_a_primary_or_a_failed_measurement_refuses_nothing() -> None:
    clock, seen = Clock(), []
    gate(Server(ReplicaState(standby=False, lag_seconds=0.0)), clock, seen).check()
    gate(Server(None), clock, seen).check()  # the query itself will say what failed
    assert seen == [ReplicaState(False, 0.0)]


def test_a_standby_that_has_replayed_nothing_yet_is_past_any_limit() -> None:
    problem = lag_problem(ReplicaState(standby=True, lag_seconds=None), 300)
    assert problem == (
        "the standby the API reads from has replayed nothing yet "
        "(TICKVAULT_API_REPLICA_MAX_LAG_SECONDS is 300)"
    )
    assert lag_problem(ReplicaState(standby=True, lag_seconds=300.0), 300) is None


def test_how_far_behind_is_known_only_for_a_measured_standby() -> None:
    clock, seen = Clock(), []
    standby = gate(Server(ReplicaState(standby=True, lag_seconds=2.5)), clock, seen)
    assert standby.behind_us() == 0  # not measured yet
    standby.check()
    assert standby.behind_us() == 2_500_000
    primary = gate(Server(ReplicaState(standby=False, lag_seconds=0.0)), clock, seen)
    primary.check()
    assert primary.behind_us() == 0
