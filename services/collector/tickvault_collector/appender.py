"""One batch onto the stream's shards: one call of the append script per shard.

:class:`ShardAppender` splits a batch of entries by stream shard
(:meth:`tickvault.keys.RedisKeys.shard_of`: a symbol always goes to the same shard) into each
shard's script arguments, with the per-symbol resume marks the batch moves
(``ShardKeys.last_id``); sends each shard's call (:data:`tickvault_collector.append.APPEND`),
packed in C by hiredis on a plain Redis and routed by redis-py on a Redis Cluster; and reads
each answer: what the producer key now holds, and — through the owner's ``appended`` callback
— losses and confirmed marks. While the feed is idle, :meth:`ShardAppender.probe` asks the same
questions without appending. The FIFO in front of it is :mod:`tickvault_collector.publisher`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import NoScriptError, ResponseError

from tickvault.codec import GapRecord, to_fields
from tickvault.keys import RedisKeys, ShardKeys
from tickvault.redisconn import AsyncRedis, describe
from tickvault.tick import Source, Tick
from tickvault_collector.append import APPEND, PRODUCER_TTL_S, Appended

log = logging.getLogger(__name__)

Entry = Tick | GapRecord | asyncio.Future[None]  # a future: someone awaits the entries before it
Args = list[bytes | int | str]
AppendedFn = Callable[[ShardKeys, Appended], None]


def no_watch(shard: ShardKeys, appended: Appended) -> None:
    """Act on no append report (the auditor keeps no ledger: its gaps are in PostgreSQL)."""


@dataclass(slots=True)
class Batch:
    """A batch of entries as the shards' script arguments, and what it holds."""

    parts: dict[ShardKeys, Args] = field(default_factory=dict)  # each shard's entries
    highs: dict[str, int] = field(default_factory=dict)  # highest trade id of each symbol
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    newest_ws: int = 0  # trade time of the last live tick (µs; 0: none)


@dataclass(eq=False)
class ShardAppender:
    """Appends batches of one producer to the stream's shards."""

    redis: AsyncRedis
    keys: RedisKeys
    maxlen: int
    producer: str
    appended: AppendedFn = no_watch
    last_appended: dict[ShardKeys, bytes] = field(default_factory=dict, init=False)
    _shard_of: dict[str, ShardKeys] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._script = self.redis.register_script(APPEND)

    def shard(self, symbol: str) -> ShardKeys:
        """Return the stream shard *symbol*'s entries and resume mark go to."""
        shard = self._shard_of.get(symbol)
        if shard is None:
            shard = self._shard_of[symbol] = self.keys.shard_of(symbol)
        return shard

    def encode(self, entries: Iterable[Entry]) -> Batch:
        """Return *entries* as script arguments per shard, and what they hold."""
        batch = Batch()
        parts, highs, shard_of = batch.parts, batch.highs, self._shard_of
        for entry in entries:
            if isinstance(entry, Tick):
                if entry.trade_id > highs.get(entry.symbol, -1):
                    highs[entry.symbol] = entry.trade_id
                if entry.source is Source.WS:
                    batch.newest_ws = entry.trade_time
            elif not isinstance(entry, GapRecord):
                batch.waiters.append(entry)
                continue
            shard = shard_of.get(entry.symbol) or self.shard(entry.symbol)
            args = parts.get(shard)
            if args is None:
                args = parts[shard] = []
            fields = to_fields(entry)
            args.append(len(fields) * 2)
            for item in fields.items():
                args.extend(item)
        return batch

    async def append(
        self, parts: dict[ShardKeys, Args], marks: dict[str, int]
    ) -> tuple[list[Appended], BaseException | None]:
        """Send every shard's part and the resume marks of its symbols at once; return the
        answers of the shards that took theirs, and the first failure (None: none failed)."""
        shards, sends = self._calls(parts, marks)
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        replies = [
            self._take(shard, outcome)
            for shard, outcome in zip(shards, outcomes, strict=True)
            if not isinstance(outcome, BaseException)
        ]
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        return replies, failures[0] if failures else None

    async def probe(self) -> None:
        """While idle, ask every shard this producer appended to what an append would say,
        appending nothing: a loss is noticed, and acknowledged marks confirmed, without
        waiting for the next trade (a quiet symbol may not trade for minutes)."""
        shards, sends = self._calls({}, {}, also=self.last_appended)
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        for shard, outcome in zip(shards, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.debug("idle probe of %s failed: %s", shard.stream, describe(outcome))
            else:
                self._take(shard, outcome)

    def _calls(
        self, parts: dict[ShardKeys, Args], marks: dict[str, int], also: Iterable[ShardKeys] = ()
    ) -> tuple[list[ShardKeys], list[Coroutine[Any, Any, list[Any]]]]:
        """Return the shards one flush writes to (and those in *also*) and the append call
        for each: its entries, and the resume marks of its symbols."""
        marked: dict[ShardKeys, list[str]] = {}
        for symbol in marks:
            marked.setdefault(self.shard(symbol), []).append(symbol)
        shards = list(set(parts) | set(marked) | set(also))
        sends = []
        for shard in shards:
            symbols = marked.get(shard, [])
            keys = [shard.stream, shard.producer(self.producer), shard.lost]
            keys += [shard.last_id(s) for s in symbols]
            head: Args = [
                self.maxlen,
                self.last_appended.get(shard, b""),
                PRODUCER_TTL_S,
                len(symbols),
            ]
            head += (marks[s] for s in symbols)
            sends.append(self._send(keys, head + parts.get(shard, [])))
        return shards, sends

    def _take(self, shard: ShardKeys, answer: list[Any]) -> Appended:
        """Read one shard's append answer: remember what its producer key holds now, and
        hand the answer to the owner (loss detection, confirmed marks)."""
        reply = Appended.from_reply(answer)
        if reply.last_id:
            self.last_appended[shard] = reply.last_id
        elif reply.gone:
            self.last_appended.pop(shard, None)  # the key holds what is left
        self.appended(shard, reply)
        return reply

    async def _send(self, keys: list[str], args: Args) -> list[Any]:
        """Run the append script: one ``EVALSHA`` packed in C by hiredis; return its reply.

        redis-py's asyncio client packs commands in Python, which costs ~2.3 µs more per
        entry (measured on a 1000-entry batch), so the usual call is packed here. A Redis
        without the script (fresh or restarted) answers NOSCRIPT: that batch then goes
        through redis-py's :class:`~redis.commands.core.AsyncScript`, which loads it. A
        Redis Cluster client routes the call itself (by the shard's hash tag), following
        ``MOVED``/``ASK`` and failovers.
        """
        if isinstance(self.redis, AsyncRedisCluster):
            routed: list[Any] = await self._script(keys=keys, args=args)
            return routed
        command: tuple[Any, ...] = ("EVALSHA", self._script.sha, len(keys), *keys, *args)
        packed = hiredis.pack_command(command)
        pool = self.redis.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(packed, check_health=False)
            reply: list[Any] = await conn.read_response()
        except ResponseError as exc:  # an error reply: the connection itself is fine
            # hiredis names it NoScriptError; another parser may leave the bare reply text
            if not (isinstance(exc, NoScriptError) or str(exc).startswith("NOSCRIPT")):
                raise
        except BaseException:
            await conn.disconnect()
            raise
        else:
            return reply
        finally:
            await pool.release(conn)
        loaded: list[Any] = await self._script(keys=keys, args=args)
        return loaded
