"""The collector's append script: the tick stream's memory bound, without silent loss — what
an append may trim, when it must wait, and how a producer notices that Redis lost what it
appended.

The stream is bounded by ``TICKVAULT_STREAM_MAXLEN`` entries, but nothing is ever trimmed that
a consumer group has not acknowledged. Each append is one scripted call (:data:`APPEND`) that,
on one shard:

1. compares the producer's key (:meth:`~tickvault.keys.ShardKeys.producer`, the id of the last
   entry this producer appended) with what the producer's own last append returned: a
   different value or none means Redis lost entries (restarted empty, a replica promoted
   before it had them) — the reply says so (``gone``);
2. takes the count of entries a writer found deleted while pending (``lost``, set by the
   writer in the transaction that acknowledged them away);
3. computes the *safe trim point*, the oldest entry some group still needs — per group, its
   oldest pending entry, else its last-delivered id — and trims below it (``XTRIM MINID ~``);
4. refuses the whole batch (``full``) when what is left, the unacknowledged backlog, has
   reached the bound: the producer keeps it and retries (backpressure), and its own bounded
   buffer records what it must drop as gaps (``buffer_overflow``);
5. otherwise appends every entry, sets the resume marks given, and stores the last id.

The reply's safe trim point confirms resume marks (every group acknowledged what was appended
with them: :class:`~tickvault_collector.gaps.ledger.Ledger`); after a loss, everything above
the last confirmed mark of a symbol is what may be gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tickvault.errors import TickvaultError

PRODUCER_TTL_S = 7 * 24 * 3600  # the producer key outlives any pause of a running collector

# KEYS = stream, producer key, lost counter, then the resume-mark keys to set.
# ARGV = maxlen, the producer's last appended id ('' before its first), the producer key's TTL,
#        the number of marks and their values, then per entry its field count and fields.
# Reply = {appended (1) or full (0), last id appended, backlog after, safe trim point,
#          entries found deleted while pending, 1 when the producer key is not what it wrote}.
APPEND = """
local stream, producer, lostkey = KEYS[1], KEYS[2], KEYS[3]
local maxlen, expected, ttl, marks = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local seen = redis.call('GET', producer)
local gone = 0
if expected ~= '' and seen ~= expected then gone = 1 end
local lost = redis.call('GET', lostkey)
if lost then redis.call('DEL', lostkey) else lost = 0 end
local safe = ''
if redis.call('EXISTS', stream) == 1 then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, pending, delivered
    for k = 1, #group, 2 do
      local key = group[k]
      if key == 'name' then name = group[k + 1]
      elseif key == 'pending' then pending = group[k + 1]
      elseif key == 'last-delivered-id' then delivered = group[k + 1] end
    end
    local floor = delivered
    if pending > 0 then floor = redis.call('XPENDING', stream, name)[2] end
    if safe == '' or older(floor, safe) then safe = floor end
  end
  if safe ~= '' and safe ~= '0-0' then redis.call('XTRIM', stream, 'MINID', '~', safe) end
end
local backlog = redis.call('XLEN', stream)
local i, n = marks + 5, #ARGV
if i <= n and backlog >= maxlen then
  return {0, '', backlog, safe, lost, gone}
end
for k = 1, marks do
  redis.call('SET', KEYS[k + 3], ARGV[k + 4])
end
local last = ''
while i <= n do
  local count = tonumber(ARGV[i])
  last = redis.call('XADD', stream, '*', unpack(ARGV, i + 1, i + count))
  i = i + count + 1
  backlog = backlog + 1
end
if last ~= '' then redis.call('SET', producer, last, 'EX', ttl) end
return {1, last, backlog, safe, lost, gone}
"""


class StreamFull(TickvaultError):
    """The stream's unacknowledged backlog reached ``TICKVAULT_STREAM_MAXLEN``: wait."""

    def __init__(self, backlog: int) -> None:
        super().__init__(f"stream backlog of {backlog} unacknowledged entries is at its bound")
        self.backlog = backlog


StreamId = tuple[int, int]


def parse_id(value: bytes | str) -> StreamId | None:
    """Return a stream entry id as (ms, seq), or None when *value* is empty or not one."""
    text = value.decode() if isinstance(value, bytes) else value
    ms, sep, seq = text.partition("-")
    if not (sep and ms.isdigit() and seq.isdigit()):
        return None
    return int(ms), int(seq)


@dataclass(frozen=True, slots=True)
class Appended:
    """What one :data:`APPEND` call found and did on a shard."""

    full: bool  # nothing appended: the backlog is at its bound
    last_id: bytes  # id of the last entry appended (empty when none)
    backlog: int  # entries in the stream after the call (not yet trimmable)
    safe: StreamId | None  # every group acknowledged every entry older than this
    lost_entries: int  # entries a writer found deleted while pending
    gone: bool  # the producer key is not what this producer last appended

    @classmethod
    def from_reply(cls, reply: list[Any]) -> Appended:
        """Decode the script's reply (bytes or str, as the client gives them)."""
        status, last, backlog, safe, lost, gone = reply
        last_b = last.encode() if isinstance(last, str) else bytes(last)
        return cls(
            full=int(status) == 0,
            last_id=last_b,
            backlog=int(backlog),
            safe=None if safe in (b"0-0", "0-0") else parse_id(safe or b""),
            lost_entries=int(lost),
            gone=int(gone) == 1,
        )

    @property
    def damaged(self) -> bool:
        """Return whether entries this shard held were lost before a writer stored them."""
        return self.gone or self.lost_entries > 0
