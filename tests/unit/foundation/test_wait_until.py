"""The tests' one bounded wait: it returns what it waited for, says what it waited for and
what it last saw when the time is up, and stops at once on an error it was not told to bear."""

from __future__ import annotations

import itertools
import time

import pytest
from tests.support.polling import WaitTimedOut, wait_until


def test_returns_the_first_value_accepted() -> None:
    counter = itertools.count()
    assert wait_until(lambda: next(counter), 5, "3", 0.001, until=lambda n: n >= 3) == 3


def test_a_timeout_names_what_was_awaited_the_last_value_and_the_context() -> None:
    counter = itertools.count()
    began = time.monotonic()
    with pytest.raises(WaitTimedOut) as failed:
        wait_until(
            lambda: next(counter), 0.2, "a million", 0.01, until=lambda n: n >= 10**6,
            context=lambda: "the log's tail",
        )  # fmt: skip
    assert 0.2 <= time.monotonic() - began < 2
    message = str(failed.value)
    assert message.startswith("timed out after 0.2 s waiting for a million; last seen: ")
    assert int(message.split("last seen: ")[1].split("\n")[0]) > 0
    assert message.endswith("\nthe log's tail")


def test_an_ignored_error_is_the_last_value_seen_and_another_error_ends_the_wait() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(WaitTimedOut, match="last seen: ConnectionRefusedError"):
        wait_until(refused, 0.05, "an answer", 0.01, ignore=(OSError,))
    began = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        wait_until(refused, 30, "an answer")
    assert time.monotonic() - began < 1


def test_a_long_last_value_is_cut() -> None:
    with pytest.raises(WaitTimedOut) as failed:
        wait_until(lambda: "x" * 5000, 0.01, "nothing", until=lambda _: False)
    assert len(str(failed.value)) < 1200
