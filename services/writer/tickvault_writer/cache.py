"""The latest-price cache: one atomic, monotonic Lua update per symbol, plus a pub/sub message.

The hash ``RedisKeys.latest(symbol)`` only ever moves to a higher trade id, so replaying an
old batch (after a crash, or from a slow replica) can never move a price backwards; when it
does move, the script publishes ``codec.latest_message`` on ``RedisKeys.latest_channel`` in
the same atomic step, so subscribers see every move exactly when it happens.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.cluster import RedisCluster

from tickvault.codec import latest_message, latest_to_hash
from tickvault.keys import RedisKeys
from tickvault.redisconn import SyncRedis
from tickvault.tick import Tick

# Trade ids are compared as digit strings (length first), so no id is too big for Lua's doubles.
LATEST_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'trade_id')
local new = ARGV[2]
if current then
    if #current > #new or (#current == #new and current >= new) then
        return 0
    end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PUBLISH', ARGV[1], ARGV[3])
return 1
"""


class LatestCache:
    """Moves each symbol's latest-price hash forward, atomically."""

    def __init__(self, client: SyncRedis, keys: RedisKeys) -> None:
        self._client = client
        self._keys = keys
        self._script = client.register_script(LATEST_SCRIPT)

    def update(self, latest: Mapping[str, Tick]) -> int:
        """Offer each symbol's newest tick in one round trip; return how many hashes moved.

        A Redis Cluster client cannot pipeline scripts (the symbols' hashes sit in many slots):
        there each symbol's script is its own round trip.
        """
        if not latest:
            return 0
        if isinstance(self._client, RedisCluster):
            return sum(
                int(self._script(keys=[self._keys.latest(s)], args=self._args(latest[s])))
                for s in sorted(latest)
            )
        pipe = self._client.pipeline(transaction=False)
        for symbol in sorted(latest):
            args = self._args(latest[symbol])
            self._script(keys=[self._keys.latest(symbol)], args=args, client=pipe)
        return sum(int(moved) for moved in pipe.execute())

    def _args(self, tick: Tick) -> list[str | bytes]:
        """Return the script's arguments for *tick*: channel, trade id, message, hash fields."""
        args: list[str | bytes] = [
            self._keys.latest_channel,
            str(tick.trade_id),
            latest_message(tick),
        ]
        for field, value in latest_to_hash(tick).items():
            args += (field, value)
        return args
