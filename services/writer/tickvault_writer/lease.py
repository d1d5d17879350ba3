"""A Redis lease: at most one holder at a time, released only by its holder."""

from __future__ import annotations

import secrets

import redis

# Delete the key only while it still holds our token (it may have expired and passed on).
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """A named lease with a time limit (``SET NX PX`` plus a compare-and-delete release)."""

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int) -> None:
        self._client = client
        self._key = key
        self._ttl_ms = ttl_ms
        self._token = secrets.token_hex(16)
        self._release = client.register_script(RELEASE_SCRIPT)

    def acquire(self) -> bool:
        """Take the lease when nobody holds it; return whether we hold it now."""
        return bool(self._client.set(self._key, self._token, nx=True, px=self._ttl_ms))

    def release(self) -> bool:
        """Give the lease back if we still hold it; return whether we did."""
        return bool(self._release(keys=[self._key], args=[self._token]))
