"""The Redis Stream side of the writer: the consumer group, reads, claims, dead letters, acks.

The tick stream has ``TICKVAULT_STREAM_SHARDS`` shards, each with its own consumer group
(the same name on every shard). A :class:`StreamReader` serves one shard; :class:`ShardReaders`
runs one per shard the replica consumes (every shard, or ``TICKVAULT_WRITER_SHARDS``), under
one consumer name, and reads them in turn. Everything one transaction touches — a shard's
stream and its dead letters — shares the shard's hash tag, so it sits in one Redis Cluster
slot.

On each shard a replica first re-reads the entries still pending under its own name (from
id ``0``, each batch after the last one re-read: the one being stored is pending too), then
new ones (``>``) with a short block, so whatever has arrived is one batch: big
under load, a single trade when quiet. Entries idle too long under another consumer (a dead
replica) are claimed by the claim script (:data:`tickvault_writer.claim.CLAIM`), which never
takes the replica's own (it may be storing them right now), and are read next.

An entry deleted from the stream while pending (one the claim script asked for and did not
get, or a pending entry read back as nil) held trades no writer stored. It is acknowledged away in a
transaction that also adds it to the shard's lost counter (:attr:`ShardKeys.lost`), which
the collector's next append takes: it refills everything since its last confirmed mark as
``claim_deleted`` gaps. Nothing the stream loses this way goes uncounted.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import redis
from redis.cluster import RedisCluster

from tickvault.keys import WRITER_GROUP, ShardKeys
from tickvault.redisconn import SyncRedis
from tickvault_writer.batch import Batch, DeadLetter, RawEntry
from tickvault_writer.claim import CLAIM, CLAIM_PAGE

log = logging.getLogger(__name__)


def _as_parsed(response: Any, **_options: Any) -> Any:
    """Return a reply as the protocol parser gave it."""
    return response


def _raw_entry(entry_id: bytes, flat: Any) -> RawEntry:
    """Return one entry of a reply (``[id, [f, v, ...]]``, or its fields as a dict on a
    cluster client; nil once trimmed from the stream) as (id, fields or None)."""
    if flat is None or isinstance(flat, dict):
        return entry_id, flat
    if len(flat) == 2:
        return entry_id, {flat[0]: flat[1]}
    return entry_id, dict(zip(flat[::2], flat[1::2], strict=True))


def consumer_name() -> str:
    """Return a name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(eq=False)
class StreamReader:
    """Reads batches of entries of one shard for one consumer of the writers' group."""

    client: SyncRedis
    shard: ShardKeys
    consumer: str
    _: KW_ONLY
    count: int
    block_ms: int
    claim_idle_ms: int
    _own_pending: bool = field(default=True, init=False)  # first re-read what it left pending
    _pending_after: bytes | str = field(default="0", init=False)  # the last one re-read so far
    deleted: int = field(default=0, init=False)  # entries found deleted while pending
    _claimed: deque[RawEntry] = field(default_factory=deque, init=False)  # claimed, unread
    _passed_by: set[bytes] = field(default_factory=set, init=False)  # claimed during a re-read

    def __post_init__(self) -> None:
        self._claim = self.client.register_script(CLAIM)
        # Same connections, but XREADGROUP replies come back as hiredis parsed them: redis-py's
        # own callback builds a dict and tuples per entry, which cost more than decoding it.
        # A cluster client has no single pool: there redis-py's parsed reply (a dict of
        # fields per entry) is read as it comes.
        if isinstance(self.client, RedisCluster):
            self._raw: SyncRedis = self.client
        else:
            self._raw = redis.Redis(connection_pool=self.client.connection_pool)
            self._raw.set_response_callback("XREADGROUP", _as_parsed)

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless they exist."""
        try:
            self.client.xgroup_create(self.shard.stream, WRITER_GROUP, id="0", mkstream=True)
            log.info("created consumer group %s on %s", WRITER_GROUP, self.shard.stream)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def reread_pending(self) -> None:
        """Read this consumer's pending entries again before new ones (after a failure)."""
        self._own_pending, self._pending_after = True, "0"
        self._claimed.clear()  # pending under this consumer now: re-read with the rest
        self._passed_by.clear()

    def read(self, *, block: bool = True) -> list[RawEntry]:
        """Return the next entries: own pending ones first, then new ones (blocking briefly)."""
        try:
            return self._read(block)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # Redis lost the group (restart without persistence)
            return self._read(block)

    def _read(self, block: bool) -> list[RawEntry]:
        claimed = self._claimed
        if claimed:
            return [claimed.popleft() for _ in range(min(self.count, len(claimed)))]
        while self._own_pending:
            # from after the last one re-read: a batch re-read is still pending while stored
            entries = self._xreadgroup(self._pending_after, block=None)
            if not entries:
                self._own_pending, self._pending_after = False, "0"
                self._passed_by.clear()
                break
            self._pending_after = entries[-1][0]
            if self._passed_by:  # claimed while this re-read went on: delivered already
                entries = [entry for entry in entries if entry[0] not in self._passed_by]
            if entries:
                return entries
        return self._xreadgroup(">", block=self.block_ms if block else None)

    def _xreadgroup(self, start: bytes | str, block: int | None) -> list[RawEntry]:
        reply: Any = self._raw.xreadgroup(
            WRITER_GROUP, self.consumer, {self.shard.stream: start}, count=self.count, block=block
        )
        if not reply:
            return []
        # RESP3 answers {stream: entries}, RESP2 [[stream, entries]]; an entry is [id, [f, v, ...]]
        # or [id, nil] once trimmed from the stream.
        entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
        return [_raw_entry(entry_id, flat) for entry_id, flat in entries]

    def claim_abandoned(self, limit: int = 100_000) -> int:
        """Take over entries other consumers left idle longer than the claim timeout (never
        this consumer's own); return how many. They are read next, before anything else
        (and a re-read of this consumer's own pending entries under way passes them by)."""
        claimed, start = 0, "-"
        page = min(self.count, CLAIM_PAGE)
        keys = [self.shard.stream, self.shard.lost]
        while claimed < limit:
            args: list[str | int] = [WRITER_GROUP, self.consumer, self.claim_idle_ms, page, start]
            last, seen, entries, gone = self._claim(keys=keys, args=args)
            if gone:
                log.warning(
                    "%d entries of %s were deleted while pending: their trades go back to the "
                    "collector",
                    gone,
                    self.shard.stream,
                )
                self.deleted += int(gone)
            for entry_id, flat in entries:
                self._claimed.append(_raw_entry(entry_id, flat))
                if self._own_pending:
                    self._passed_by.add(entry_id)
            claimed += len(entries)
            if int(seen) < page:
                break
            start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        if claimed:
            log.info("claimed %d entries abandoned by other writers", claimed)
        return claimed

    def finish(self, batch: Batch, dead: Sequence[DeadLetter] = ()) -> bool:
        """Dead-letter what could not be stored, count what was deleted while pending, then
        acknowledge every entry, atomically."""
        if not batch.ids and not dead:
            return True
        pipe = self.client.pipeline(transaction=True)
        if batch.deleted:
            pipe.incrby(self.shard.lost, batch.deleted)
        for letter in dead:
            fields: dict[bytes, bytes] = dict(letter.fields)
            fields[b"reason"] = letter.reason.encode("utf-8", "replace")
            fields[b"entry_id"] = letter.entry_id
            pipe.xadd(self.shard.dead_letter, fields)  # type: ignore[arg-type]
        if batch.ids:
            pipe.xack(self.shard.stream, WRITER_GROUP, *batch.ids)
        pipe.execute()
        self.deleted += batch.deleted
        return True

    def group_info(self) -> tuple[int, int | None]:
        """Return the group's pending count and lag (None when Redis cannot tell)."""
        for group in self.client.xinfo_groups(self.shard.stream):
            name = group.get("name")
            if name in (WRITER_GROUP, WRITER_GROUP.encode()):
                lag = group.get("lag")
                return int(group.get("pending", 0)), None if lag is None else int(lag)
        return 0, None


class ShardReaders:
    """The shards one replica consumes, read in turn under one consumer name."""

    def __init__(
        self,
        client: SyncRedis,
        shards: Sequence[ShardKeys],
        consumer: str,
        *,
        count: int,
        block_ms: int,
        claim_idle_ms: int,
    ) -> None:
        if not shards:
            raise ValueError("a writer must consume at least one shard")
        self.client = client
        self.consumer = consumer
        self.shards = tuple(
            StreamReader(
                client,
                shard,
                consumer,
                count=count,
                block_ms=block_ms,
                claim_idle_ms=claim_idle_ms,
            )
            for shard in shards
        )
        self._turn = 0

    @property
    def deleted(self) -> int:
        """Entries found deleted while pending, on every shard this replica reads."""
        return sum(reader.deleted for reader in self.shards)

    def describe(self) -> str:
        """Return the streams consumed, for the start-up line."""
        return ", ".join(r.shard.stream for r in self.shards)

    def ensure_group(self) -> None:
        """Create the consumer group on every shard unless it exists."""
        for reader in self.shards:
            reader.ensure_group()

    def reread_pending(self) -> None:
        """Read this consumer's pending entries of every shard again (after a failure)."""
        for reader in self.shards:
            reader.reread_pending()

    def read(self, *, block: bool = True) -> tuple[StreamReader, list[RawEntry]]:
        """Return the next entries of one shard, and that shard's reader.

        Shards are asked in turn without blocking, starting after the one that answered
        last, so a busy shard cannot starve the others; when none has anything, the next in
        turn is asked with the short block.
        """
        readers = self.shards
        if len(readers) == 1:
            return readers[0], readers[0].read(block=block)
        n = len(readers)
        for step in range(n):
            reader = readers[(self._turn + step) % n]
            entries = reader.read(block=False)
            if entries:
                self._turn = (self._turn + step + 1) % n
                return reader, entries
        reader = readers[self._turn]
        self._turn = (self._turn + 1) % n
        return reader, reader.read(block=block) if block else []

    def claim_abandoned(self, limit: int = 100_000) -> int:
        """Take over entries idle longer than the claim timeout on every shard."""
        return sum(reader.claim_abandoned(limit) for reader in self.shards)

    def group_info(self) -> tuple[int, int | None]:
        """Return the pending count and lag summed over the shards (lag None when unknown)."""
        pending, lag = 0, 0
        known = True
        for reader in self.shards:
            shard_pending, shard_lag = reader.group_info()
            pending += shard_pending
            if shard_lag is None:
                known = False
            else:
                lag += shard_lag
        return pending, lag if known else None
