"""Closing a link never swallows a cancel of the task doing the closing."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from tickvault_collector.link import Link


class _Socket:
    """Just enough of a client connection for :meth:`Link.close`."""

    closed = 0

    async def close(self) -> None:
        self.closed += 1


async def _slow_to_cancel() -> None:
    """A reader that needs a moment to wind down once cancelled."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.05)
        raise


def test_a_cancel_arriving_while_the_reader_winds_down_cancels_the_closer() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        socket = _Socket()
        link = Link(cast(Any, socket), 1, 0.0)
        link.task = asyncio.create_task(_slow_to_cancel())
        await asyncio.sleep(0)
        closer = asyncio.create_task(link.close())
        await asyncio.sleep(0.01)  # the closer now waits for the reader to end
        closer.cancel()
        await asyncio.wait([closer])
        await asyncio.wait([link.task])  # the reader was cancelled too and ends on its own
        return closer.cancelled(), link.task.cancelled(), socket.closed

    assert asyncio.run(scenario()) == (True, True, 1)
