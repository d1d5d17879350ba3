"""Run N writer replicas as separate processes on one pre-filled stream; time their commits.

Used by ``writer_throughput.py --replicas``. Each replica is a spawned process running the
real :class:`~tickvault_writer.service.Writer` (its own Redis and PostgreSQL connections,
``tune_gc`` as ``tickvault-writer`` does), with a store that notes every commit's wall-clock
time and row count. The replicas are built and connected first, then released together;
the run ends when the consumer group has nothing left to deliver or acknowledge.

The figure is the aggregate sustained rate from the first commit (of any replica) to the
last: the rows committed after the first commit over that span. The replicas' own CPU time
(every thread, from the start to the stop) per row is reported too: it is what the Python
side costs, and moves much less than the rate when other work shares the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import uuid
from typing import Any

import redis
from tests.support.polling import wait_until

from tickvault.keys import WRITER_GROUP, RedisKeys
from tickvault_writer.batch import Batch
from tickvault_writer.settings import WriterSettings
from tickvault_writer.store import PgStore, WriteResult

Commit = tuple[int, int]  # (wall-clock epoch µs, rows inserted)


class CommitLog(PgStore):
    """A store that notes each commit's wall-clock time and rows inserted."""

    commits: list[Commit]

    def write(self, batch: Batch) -> WriteResult:
        result = super().write(batch)
        self.commits.append((result.committed_us, result.inserted))
        return result


def replica(
    settings: WriterSettings, redis_url: str, ready: Any, go: Any, stop: Any, out: Any
) -> None:
    """Run one writer replica until *stop*; put (pid, commits, CPU seconds) on *out*."""
    from tickvault_writer.service import Writer, tune_gc

    store = CommitLog(settings.database_url)
    store.commits = []
    client = redis.Redis.from_url(redis_url)
    writer = Writer(settings, redis=client, store=store)
    writer.reader.ensure_group()
    store._connection()  # connect before the start, as a running replica already is
    tune_gc()
    ready.put(os.getpid())
    go.wait()
    cpu = time.process_time()  # this process's CPU time, every thread: the Python side's cost
    watcher = threading.Thread(target=lambda: (stop.wait(), writer.request_stop()), daemon=True)
    watcher.start()
    writer.run()
    client.close()
    out.put((os.getpid(), store.commits, time.process_time() - cpu))


def drained(client: redis.Redis, stream: str) -> bool:
    """Return whether the writers' group has delivered and acknowledged every entry."""
    for group in client.xinfo_groups(stream):
        name = group.get("name")
        if name in (WRITER_GROUP, WRITER_GROUP.encode()):
            return bool(group.get("lag") == 0 and group.get("pending") == 0)
    return False


def sustained(commits: list[Commit]) -> dict[str, float]:
    """Return the aggregate rate from the first commit to the last."""
    ordered = sorted(commits)
    first, last = ordered[0][0], ordered[-1][0]
    after_first = sum(n for _, n in ordered) - ordered[0][1]
    seconds = (last - first) / 1e6
    return {
        "seconds": seconds,
        "rows_per_s": after_first / seconds if seconds > 0 else 0.0,
        "rows": float(sum(n for _, n in ordered)),
        "batches": float(len(ordered)),
    }


def run_replicas(
    settings_for: Any,
    url: str,
    template: str,
    replicas: int,
    batch: int,
    client: redis.Redis,
    redis_url: str,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Copy the pre-filled *template* stream, drain it with *replicas* writers, time it."""
    prefix = f"tvbench:{uuid.uuid4().hex[:8]}"
    keys = RedisKeys(prefix)
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go, stop = ctx.Event(), ctx.Event()
    settings = settings_for(url, prefix, batch)
    procs = [
        ctx.Process(target=replica, args=(settings, redis_url, ready, go, stop, out))
        for _ in range(replicas)
    ]
    results: list[tuple[int, list[Commit], float]] = []
    try:
        client.copy(template, keys.stream)  # the stream with its group, nothing delivered
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=120)
        load_before = os.getloadavg()[0]
        go.set()

        def drained_by_live_replicas() -> bool:
            if not all(p.is_alive() for p in procs):
                raise RuntimeError("a replica died before the stream was drained")
            return drained(client, keys.stream)

        wait_until(drained_by_live_replicas, timeout, "the replicas to drain the stream", 0.02)
        load_after = os.getloadavg()[0]
        stop.set()
        for _ in procs:
            results.append(out.get(timeout=60))
    finally:
        stop.set()
        go.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        for q in (ready, out):
            q.close()
    commits = [c for _, cs, _ in results for c in cs]
    figure: dict[str, Any] = sustained(commits)
    cpu_s = sum(cpu for _, _, cpu in results)
    figure.update(
        replicas=replicas,
        batch=batch,
        load_before=load_before,
        load_after=load_after,
        cpu_us_per_row=cpu_s / figure["rows"] * 1e6,
        per_replica_rows=[sum(n for _, n in cs) for _, cs, _ in results],
    )
    return figure
