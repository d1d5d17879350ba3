"""The one retry policy (backoff, Retry-After) and the throttled logger every service uses."""

from __future__ import annotations

import logging
import random

import pytest

from tickvault.retry import RetryPolicy, parse_retry_after
from tickvault.throttle import Throttle, ThrottledLog
from tickvault_collector.settings import CollectorSettings


class _Edge(random.Random):
    """An rng whose ``uniform`` always answers one end of the range."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_full() -> None:
    policy = RetryPolicy(0.1, 1.0)
    top = policy.backoff(_Edge(top=True))
    assert [top.next() for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    bottom = policy.backoff(_Edge(top=False))
    assert [bottom.next() for _ in range(2)] == [0.05, 0.1]


def test_backoff_resets_to_the_initial_wait_after_a_success() -> None:
    b = RetryPolicy(0.5, 4.0).backoff(random.Random(1))
    delays = [b.next() for _ in range(8)]
    assert all(0.25 <= d <= 4.0 for d in delays)
    assert delays[-1] >= 2.0
    b.reset()
    assert b.next() <= 0.5


def test_no_jitter_gives_the_exact_doubling() -> None:
    b = RetryPolicy(1.0, 30.0, jitter=0.0).backoff()
    assert [b.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (None, None),
        ("soon", None),
        ("-3", None),
        ("nan", None),
        ("inf", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # a date without its zone is not an HTTP-date
    ],
)
def test_retry_after_reads_delay_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_reads_an_http_date_from_now() -> None:
    now = 1_445_412_400.0  # 2015-10-21T07:26:40Z
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 80.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0


def test_rest_waits_what_retry_after_says_with_a_floor_and_a_default() -> None:
    rest = RetryPolicy(0.5, 30.0, limited_default=60.0, limited_floor=1.0)
    assert rest.limited_wait("7") == 7
    assert rest.limited_wait("0") == 1
    assert rest.limited_wait(None) == 60
    assert rest.limited_wait("soon") == 60


def test_the_collector_never_waits_less_than_its_rate_limited_backoff() -> None:
    settings = CollectorSettings(_env_file=None, collector_rate_limited_backoff_s=120)  # type: ignore[call-arg]
    policy = settings.retry_policy()
    assert policy.limited_wait("300") == 300
    assert policy.limited_wait(None) == 120
    assert policy.limited_wait("5") == 120
    assert policy.limited_wait("junk") == 120


def test_throttle_lets_one_event_per_interval_and_counts_the_rest() -> None:
    now = [0.0]
    throttle = Throttle(10.0, clock=lambda: now[0])
    assert throttle.allow() == 0
    assert throttle.allow() is None
    assert throttle.allow() is None
    now[0] = 10.0
    assert throttle.allow() == 2


def test_throttle_lets_a_burst_through_per_window() -> None:
    now = [0.0]
    throttle = Throttle(60.0, burst=3, clock=lambda: now[0])
    assert [throttle.allow() for _ in range(5)] == [0, 0, 0, None, None]
    now[0] = 59.9
    assert throttle.allow() is None
    now[0] = 60.0
    assert throttle.allow() == 3


def test_throttled_log_says_how_many_lines_it_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    out = ThrottledLog(logging.getLogger("tv.test"), 5.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="tv.test"):
        assert out.warning("redis down (%s)", "refused") is True
        assert out.warning("redis down (%s)", "refused") is False
        assert out.warning("redis down (%s)", "reset") is False
        now[0] = 5.0
        assert out.warning("redis down (%s)", "timeout") is True
    assert caplog.messages == [
        "redis down (refused)",
        "redis down (timeout) (2 similar lines not logged)",
    ]
