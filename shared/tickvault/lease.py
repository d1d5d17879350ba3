"""Leases: at most one holder of a named piece of work at a time, across processes.

redis-py's :class:`redis.lock.Lock` (and its asyncio twin) does the work: ``SET NX PX`` with
a random token to take the lease, and Lua scripts that check the token before they release,
extend or renew it, so a holder whose lease expired and passed on can never delete or
stretch the next holder's. It uses one key, so it also works on a Redis Cluster.

On top, :class:`Lease` and :class:`AsyncLease` give tickvault's services one vocabulary:
``acquire`` never blocks, ``release`` / ``renew`` / ``hold`` answer False instead of raising
once the lease is no longer ours, and :meth:`AsyncLease.run` keeps the lease renewed while a
piece of work runs, cancelling the work (and raising :class:`~tickvault.errors.LeaseLost`)
when the lease cannot be kept, so two holders' work never overlaps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

import redis
import redis.asyncio.lock
import redis.lock
from redis.exceptions import LockError

from tickvault.errors import LeaseLost
from tickvault.redisconn import REDIS_ERRORS, AsyncRedis, SyncRedis, describe

log = logging.getLogger(__name__)
T = TypeVar("T")

RENEWALS_PER_TTL = 3  # renew this many times per time-to-live while work runs


class Lease:
    """A named lease with a time to live, for threads (``redis.Redis``)."""

    def __init__(self, client: SyncRedis, key: str, ttl_s: float) -> None:
        self.key = key
        self.ttl_s = ttl_s
        self._lock = redis.lock.Lock(client, key, timeout=ttl_s, blocking=False, thread_local=False)

    def acquire(self) -> bool:
        """Take the lease when nobody holds it; return whether we hold it now."""
        return bool(self._lock.acquire(blocking=False))

    def release(self) -> bool:
        """Give the lease back if we still hold it; return whether we did."""
        try:
            self._lock.release()
        except LockError:
            return False
        return True

    def renew(self) -> bool:
        """Reset the time to live to its full length; return False when the lease is lost."""
        try:
            return bool(self._lock.reacquire())
        except LockError:
            return False

    def hold(self, seconds: float) -> bool:
        """Keep the lease exactly *seconds* more (others wait until then); False when lost."""
        try:
            return bool(self._lock.extend(max(0.001, seconds), replace_ttl=True))
        except LockError:
            return False


class AsyncLease:
    """A named lease with a time to live, for asyncio (``redis.asyncio.Redis``)."""

    def __init__(self, client: AsyncRedis, key: str, ttl_s: float) -> None:
        self.key = key
        self.ttl_s = ttl_s
        self._lock = redis.asyncio.lock.Lock(
            client, key, timeout=ttl_s, blocking=False, thread_local=False
        )

    async def acquire(self) -> bool:
        """Take the lease when nobody holds it; return whether we hold it now."""
        return bool(await self._lock.acquire(blocking=False))

    async def release(self) -> bool:
        """Give the lease back if we still hold it; return whether we did."""
        try:
            await self._lock.release()
        except LockError:
            return False
        return True

    async def renew(self) -> bool:
        """Reset the time to live to its full length; return False when the lease is lost."""
        try:
            return bool(await self._lock.reacquire())
        except LockError:
            return False

    async def hold(self, seconds: float) -> bool:
        """Keep the lease exactly *seconds* more (others wait until then); False when lost."""
        try:
            return bool(await self._lock.extend(max(0.001, seconds), replace_ttl=True))
        except LockError:
            return False

    async def run(self, work: Awaitable[T]) -> T:
        """Await *work* (with the lease held) while renewing the lease in the background.

        When a renewal finds the lease gone, or Redis has not confirmed one for so long that
        the lease may have expired, the work is cancelled and :class:`LeaseLost` raised.
        """
        task = asyncio.ensure_future(work)
        keeper = asyncio.create_task(self._keep(), name=f"lease {self.key}")
        try:
            await asyncio.wait([task, keeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            keeper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait([task])
        raise LeaseLost(f"lost the lease {self.key} while its work ran; work stopped")

    async def _keep(self) -> None:
        """Renew every ``ttl / RENEWALS_PER_TTL``; return once the lease cannot be kept."""
        every = self.ttl_s / RENEWALS_PER_TTL
        confirmed = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.renew():
                    log.warning("lease %s was taken over; stopping its work", self.key)
                    return
                confirmed = time.monotonic()
            except REDIS_ERRORS as exc:
                # Until Redis answers, nobody else can take the lease either; but once it
                # may have expired there, our work must stop before someone else's starts.
                if time.monotonic() - confirmed + every >= self.ttl_s:
                    log.warning(
                        "lease %s not renewable (%s); stopping its work", self.key, describe(exc)
                    )
                    return
