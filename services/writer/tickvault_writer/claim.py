"""The claim script: take over what other replicas abandoned, never a replica's own entries.

``XAUTOCLAIM`` takes every entry idle past the claim time, whoever holds it: a replica whose
commit takes longer than ``TICKVAULT_WRITER_CLAIM_IDLE_MS`` would claim back the batch it is
storing, read it again and store it twice. :data:`CLAIM` lists the idle entries instead
(``XPENDING … IDLE``), leaves out those of the claiming consumer, and claims the rest
(``XCLAIM``), in one script, so no other replica's claim or acknowledgement comes between: an
entry asked for and not returned was deleted from the stream while pending. Those are
acknowledged away and added to the shard's lost counter (:attr:`tickvault.keys.ShardKeys.lost`)
in the same script, as :meth:`tickvault_writer.stream.StreamReader.finish` does for entries
read back as nil.
"""

from __future__ import annotations

CLAIM_PAGE = 1000  # entries one call looks at (the script unpacks their ids as arguments)

# KEYS = stream, lost counter.
# ARGV = group, claiming consumer, min idle ms, page size, first id ('-', or '(' + last seen).
# Reply = {last id looked at ('' when none), how many it looked at, the claimed entries
#          [[id, [field, value, ...]], ...], how many were found deleted}.
CLAIM = """
local stream, lostkey = KEYS[1], KEYS[2]
local group, consumer, idle = ARGV[1], ARGV[2], ARGV[3]
local pending = redis.call('XPENDING', stream, group, 'IDLE', idle, ARGV[5], '+', ARGV[4])
local ids = {}
for _, entry in ipairs(pending) do
  if entry[2] ~= consumer then ids[#ids + 1] = entry[1] end
end
local claimed, returned, gone = {}, {}, {}
if #ids > 0 then
  for _, entry in ipairs(redis.call('XCLAIM', stream, group, consumer, idle, unpack(ids))) do
    if type(entry) == 'table' and entry[2] then
      claimed[#claimed + 1] = entry
      returned[entry[1]] = true
    end
  end
end
for _, id in ipairs(ids) do
  if not returned[id] then gone[#gone + 1] = id end
end
if #gone > 0 then
  redis.call('XACK', stream, group, unpack(gone))
  redis.call('INCRBY', lostkey, #gone)
end
local last = ''
if #pending > 0 then last = pending[#pending][1] end
return {last, #pending, claimed, #gone}
"""
