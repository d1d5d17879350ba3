"""The API's per-process kept answers: read again only once too old, one reader at a time,
and a failed read keeps the last answer a short while instead of failing the request."""

from __future__ import annotations

import threading

import pytest

from tickvault_api.refreshed import Refreshed


class Source:
    """What a :class:`Refreshed` reads: counts its reads and fails while told to."""

    def __init__(self) -> None:
        self.reads = 0
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()

    def read(self) -> int:
        self.gate.wait(5)
        if self.failing:
            raise ConnectionError("down")
        self.reads += 1
        return self.reads


def test_a_failed_read_keeps_the_last_answer_for_the_retry_time_then_reads_again() -> None:
    source, now = Source(), [0.0]
    kept = Refreshed(
        source.read, 10.0, what="n", kept_on=(ConnectionError,), retry_s=1.0, clock=lambda: now[0]
    )
    assert kept.get() == 1
    source.failing, now[0] = True, 10.0
    assert kept.get() == 1  # kept for one more second
    now[0] = 10.5
    assert kept.get() == 1 and source.reads == 1
    source.failing, now[0] = False, 11.0
    assert kept.get() == 2


def test_with_nothing_kept_a_failed_read_goes_to_the_caller_and_other_errors_always_do() -> None:
    source = Source()
    source.failing = True
    with pytest.raises(ConnectionError):
        Refreshed(source.read, 10.0, what="n", kept_on=(ConnectionError,)).get()
    now = [0.0]
    kept = Refreshed(source.read, 10.0, what="n", clock=lambda: now[0])
    source.failing = False
    assert kept.get() == 1
    source.failing, now[0] = True, 10.0
    with pytest.raises(ConnectionError):
        kept.get()  # not in kept_on: not hidden


def test_threads_asking_while_one_reads_wait_for_its_answer() -> None:
    source, now = Source(), [0.0]
    kept = Refreshed(source.read, 10.0, what="n", clock=lambda: now[0])
    source.gate.clear()
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(kept.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    source.gate.set()
    for thread in threads:
        thread.join(5)
    assert answers == [1] * 8 and source.reads == 1
