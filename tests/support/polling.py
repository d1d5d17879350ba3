"""The one bounded wait of the tests and benchmarks: read something until it is what we want.

    wait_until(lambda: trade_count(engine), 60, "every trade stored", until=lambda n: n >= 9000)

*read* is called every *interval* seconds until *until* accepts what it returned (by default:
until it returns something truthy), and that value is returned. After *timeout* seconds it
raises :class:`WaitTimedOut` saying what was awaited, the last value read (or the exception
it raised, when the exception is one of *ignore*), and *context* (say, the tail of a log).
An exception that *read* raises and *ignore* does not name ends the wait at once: a check
that knows the thing it waits for died raises instead of letting the wait run out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
SEEN_CHARS = 1000  # of the last value's repr in the message


class WaitTimedOut(TimeoutError):
    """What :func:`wait_until` raises when the time is up."""


def wait_until(
    read: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.05,
    *,
    until: Callable[[T], Any] = bool,
    ignore: tuple[type[BaseException], ...] = (),
    context: Callable[[], str] | None = None,
) -> T:
    """Call *read* until *until* accepts its value; return that value (see the module)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = read()
        except ignore as exc:
            last = exc
        else:
            if until(value):
                return value
            last = value
        left = deadline - time.monotonic()
        if left <= 0:
            seen = repr(last)
            seen = seen if len(seen) <= SEEN_CHARS else seen[:SEEN_CHARS] + "..."
            message = f"timed out after {timeout:g} s waiting for {what}; last seen: {seen}"
            if context is not None:
                message += "\n" + context()
            raise WaitTimedOut(message)
        time.sleep(min(interval, left))
