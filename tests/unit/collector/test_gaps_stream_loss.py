"""When Redis loses a shard's unacknowledged entries, the collector asks again for every id it
published there since the last confirmed mark: the live ids as ``stream_lost`` gaps, the
backfilled pages of gaps still open by rewinding those gaps, and the records of the open gaps
(PostgreSQL may never have seen them)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tickvault.codec import GapReason, GapRecord, GapStatus
from tickvault.tick import Source, Tick
from tickvault_collector import collector as collector_module
from tickvault_collector.append import Appended
from tickvault_collector.collector import Collector
from tickvault_collector.gaps.ledger import Ledger
from tickvault_collector.metrics import make_metrics
from tickvault_collector.rest import RestClient
from tickvault_collector.settings import CollectorSettings

GONE = Appended(full=False, last_id=b"", backlog=0, safe=None, lost_entries=0, gone=True)


def test_a_loss_reopens_the_live_ids_and_rewinds_a_backfill_in_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def nothing_stored_open(url: str, symbols: list[str]) -> None:
        return None  # PostgreSQL unreachable: only what the collector knows is reopened

    monkeypatch.setattr(collector_module, "collector_gaps", nothing_stored_open)

    async def scenario() -> None:
        settings = CollectorSettings(_env_file=None)  # type: ignore[call-arg]
        metrics = make_metrics()
        redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # never connected here
        collector = Collector(settings, redis, RestClient.from_settings(settings, metrics), metrics)
        shard = collector.publisher.shard("BTCUSDT")
        collector.stream_loss.ledgers[shard.index] = Ledger(
            {"BTCUSDT": 1000}
        )  # ids up to 1,000 stored
        collector.gaps.marks.high["BTCUSDT"] = 9000  # the live feed got this far
        book = collector.gaps.book
        backfilling = book.open("BTCUSDT", 2001, 4000, 0)
        backfilling.next_id = backfilling.settled = 3001  # one page in the stream, now lost
        untouched = book.open("BTCUSDT", 6000, 6100, 0)

        collector.stream_loss.appended(shard, GONE)
        await asyncio.sleep(0.05)  # the task that opens the lost ranges

        assert (backfilling.next_id, backfilling.settled) == (2001, 2001)
        assert (untouched.next_id, untouched.settled) == (6000, 6000)
        lost = [
            (g.first, g.last) for g in book.gaps("BTCUSDT") if g.reason is GapReason.STREAM_LOST
        ]
        assert lost == [(1001, 2000), (4001, 5999), (6101, 9000)]
        assert book.first_missing("BTCUSDT") == 1001
        recorded = {
            (r.first_id, r.last_id)
            for r in collector.publisher._fifo
            if isinstance(r, GapRecord) and r.status is GapStatus.DETECTED
        }  # the records opening the gaps may have been lost too: sent again
        assert recorded == {(2001, 4000), (6000, 6100), *lost}
        assert collector.counts.stream_losses == 1
        await redis.aclose()

    asyncio.run(scenario())


def test_a_page_whose_publish_saw_a_loss_leaves_its_gap_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last page of a gap goes out, and Redis turns out to have lost the earlier pages
    (the loss is reported while the page is being published, and the task reopening the lost
    ids runs before the page's publish returns): the gap, rewound, stays open to be fetched
    again instead of being closed over ids the stream no longer holds."""

    async def nothing_stored_open(url: str, symbols: list[str]) -> None:
        return None

    monkeypatch.setattr(collector_module, "collector_gaps", nothing_stored_open)

    async def scenario() -> None:
        settings = CollectorSettings(_env_file=None)  # type: ignore[call-arg]
        metrics = make_metrics()
        redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # never connected here
        rest = RestClient.from_settings(settings, metrics)
        collector = Collector(settings, redis, rest, metrics)
        shard = collector.publisher.shard("BTCUSDT")
        collector.stream_loss.ledgers[shard.index] = Ledger(
            {"BTCUSDT": 1000}
        )  # ids up to 1,000 stored
        collector.gaps.marks.high["BTCUSDT"] = 9000
        gap = collector.gaps.book.open("BTCUSDT", 2001, 3500, 0)
        gap.next_id = gap.settled = 3001  # the first page is in the stream (and is lost)

        async def last_page(symbol: str, from_id: int, *_: object) -> list[Tick]:
            return [_tick(i) for i in range(from_id, 3501)]

        async def publish_seeing_the_loss(entries: object) -> None:
            collector.stream_loss.appended(
                shard, GONE
            )  # this batch's append finds the stream emptied
            await asyncio.sleep(0.05)  # the lost ids are reopened meanwhile

        monkeypatch.setattr(rest, "historical_trades", last_page)
        monkeypatch.setattr(collector.publisher, "publish", publish_seeing_the_loss)

        assert await collector.repairer.fill("BTCUSDT")

        assert gap in collector.gaps.book.gaps("BTCUSDT")
        assert (gap.next_id, gap.settled) == (2001, 2001)
        assert collector.counts.gaps_filled == 0
        covered = sorted((g.first, g.last) for g in collector.gaps.book.gaps("BTCUSDT"))
        assert covered == [(1001, 2000), (2001, 3500), (3501, 9000)]  # nothing left out
        await redis.aclose()

    asyncio.run(scenario())


def _tick(trade_id: int) -> Tick:
    return Tick(
        "BTCUSDT",
        trade_id,
        "1.0",
        "0.5",
        1_700_000_000_000_000,
        1_700_000_000_000_000,
        False,
        1_700_000_000_000_000,
        Source.BACKFILL,
    )
