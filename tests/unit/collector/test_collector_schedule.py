"""One queue for every REST request: backfill first, within the budget, held after a 429."""

from __future__ import annotations

import asyncio

from tickvault.rest.parse import WeightGate
from tickvault.rest.schedule import Priority, RestScheduler


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_backfill_goes_first_and_each_use_stays_under_its_part_of_the_budget() -> None:
    async def scenario() -> tuple[list[Priority], int, dict[Priority, int]]:
        clock = _Clock(600.0)
        sched = RestScheduler(WeightGate(limit=100, share=1.0), clock)
        sched.gate.spend(90, clock())
        done: list[Priority] = []

        async def ask(priority: Priority) -> None:
            await sched.acquire(25, priority)
            done.append(priority)

        tasks = [asyncio.create_task(ask(p)) for p in (Priority.AUDIT, Priority.TAIL)]
        tasks.append(asyncio.create_task(ask(Priority.BACKFILL)))
        await asyncio.sleep(0.05)
        assert done == [] and sched.waiting() == 3  # 90 + 25 is over every ceiling
        clock.now = 660.0  # the minute turns
        sched.hold(0)  # wakes the waiters
        await asyncio.sleep(0.05)
        waiting = sched.waiting()  # AUDIT: 50 + 25 is over its 60 %
        tasks[0].cancel()
        await asyncio.wait(tasks)
        return done, waiting - sched.waiting(), sched.spent

    done, dropped, spent = asyncio.run(scenario())
    assert done == [Priority.BACKFILL, Priority.TAIL]
    assert dropped == 1
    assert spent[Priority.BACKFILL] == 25 and spent[Priority.AUDIT] == 0


def test_a_429_holds_every_request_until_retry_after() -> None:
    async def scenario() -> tuple[bool, bool]:
        clock = _Clock(600.0)
        sched = RestScheduler(WeightGate(limit=6000, share=0.5), clock)
        sched.hold(30)
        task = asyncio.create_task(sched.acquire(25, Priority.BACKFILL))
        await asyncio.sleep(0.05)
        held = not task.done()
        clock.now = 631.0
        sched.hold(0)
        await asyncio.sleep(0.05)
        return held, task.done()

    assert asyncio.run(scenario()) == (True, True)


def test_the_exchanges_count_of_this_minute_is_the_truth() -> None:
    async def scenario() -> bool:
        clock = _Clock(600.0)
        sched = RestScheduler(WeightGate(limit=6000, share=0.5), clock)
        await sched.acquire(25, Priority.TAIL)
        sched.observe("2999")  # another process on this IP spent the rest
        task = asyncio.create_task(sched.acquire(25, Priority.BACKFILL))
        await asyncio.sleep(0.05)
        waiting = not task.done()
        task.cancel()
        await asyncio.wait([task])
        return waiting

    assert asyncio.run(scenario())
