"""``make chaos``'s no-silent-loss scenarios (issue 15), audits off unless the scenario is the
audit's own: each replays both real recordings once, as fast as the collector reads, on a
private PostgreSQL database and a private Redis of its own, then checks PostgreSQL against
the recordings (``chaos_check.py``) and reports how long the repair took.

1. ``writers-paused``: the writers SIGSTOPped while 17 times ``TICKVAULT_STREAM_MAXLEN``
   (2,000) trades flow, then resumed;
2. ``collector-killed``: the collector SIGKILLed during a backfill of 24,000 ids, restarted;
3. ``redis-restart``: Redis restarted empty (no persistence) with 20,000 entries unread;
4. ``redis-maxmemory``: Redis at ``maxmemory`` with ``noeviction`` refuses the collector's
   appends for 5 s;
5. ``lease-race``: two collectors' scheduled audits race for the lease over holes punched in
   PostgreSQL's ``trades`` (only there: the 1-minute aggregates are not compared in this
   one); the holes must be refilled exactly once, by one audit.

"Repair" is the time from the end of the fault to every recorded trade stored.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, text
from tests.private_servers import PrivatePostgres, PrivateRedis
from tests.support.polling import wait_until
from tests.support.recordings import all_recorded_trades

from common import Service, Stack, released, replay
from tickvault.db.engine import make_engine
from tickvault.keys import WRITER_GROUP, RedisKeys

PREFIX = "tvnoloss"
SCENARIOS = ("writers-paused", "collector-killed", "redis-restart", "redis-maxmemory", "lease-race")


@dataclass
class Outcome:
    """What one scenario did and found."""

    name: str
    repair_s: float
    verdict: Any
    reasons: dict[str, int]
    note: str = ""
    aggregates: bool = True  # whether candles and price levels are compared too

    @property
    def ok(self) -> bool:
        """Return whether nothing was lost, doubled or wrong and every gap is filled."""
        v = self.verdict
        if self.aggregates:
            return bool(v.ok)
        return bool(
            v.expected
            and not any(v.missing.values())
            and not (v.unexpected or v.doubled or v.wrong_values or v.wrong_times)
            and set(v.gaps) <= {"filled"}
        )

    @property
    def wrong(self) -> int:
        """Return the rows stored wrong (values, times, outside the recordings, aggregates)."""
        v = self.verdict
        wrong = int(v.wrong_values + v.wrong_times + v.unexpected)
        if self.aggregates:
            wrong += v.candle_mismatches + v.level_mismatches
        return wrong


@dataclass
class Run:
    """One scenario's servers, stack and replay."""

    stack: Stack
    pg: PrivatePostgres
    rds: PrivateRedis
    engine: Engine
    rp: Any
    keys: RedisKeys

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.rds.url, socket_timeout=5)

    def seed_resume(self) -> None:
        client = self.client()
        for symbol, trades in all_recorded_trades().items():
            client.set(self.keys.collector_last_id(symbol), min(t.trade_id for t in trades) - 1)
        client.close()

    def stored(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM trades")).scalar() or 0)

    def group_exists(self) -> bool:
        try:
            groups = self.client().xinfo_groups(self.keys.stream)
        except redis.RedisError:
            return False
        return any(g["name"] in (WRITER_GROUP, WRITER_GROUP.encode()) for g in groups)

    def gaps_settled(self) -> bool:
        with self.engine.connect() as conn:
            statuses = {r[0] for r in conn.execute(text("SELECT DISTINCT status FROM trade_gaps"))}
        return statuses <= {"filled"}

    def reasons(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT reason, count(*) FROM trade_gaps GROUP BY 1")).all()
        return {str(r): int(n) for r, n in rows}

    def repaired(self, expected: int, timeout: float = 300) -> float:
        """Wait until every recorded trade is stored and every gap filled; return seconds."""
        t0 = time.monotonic()
        wait_until(lambda: self.stored() >= expected, timeout, "every trade stored", 0.1)
        wait_until(self.gaps_settled, 60, "every gap filled", 0.2)
        return time.monotonic() - t0


def run_all(run_dir: Path, names: tuple[str, ...] = SCENARIOS) -> list[Outcome]:
    """Run the scenarios *names*, each on fresh private servers; return their outcomes."""
    return [run_one(name, run_dir / name) for name in names]


def run_one(name: str, run_dir: Path) -> Outcome:
    from chaos_check import check

    run_dir.mkdir(parents=True, exist_ok=True)
    with PrivatePostgres() as pg, PrivateRedis() as rds:
        url = pg.url("tvnoloss")
        stack = Stack.migrated(
            url,
            rds.url,
            PREFIX,
            run_dir,
            TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S="0",
            TICKVAULT_WRITER_CLAIM_IDLE_MS="3000",
        )
        engine = make_engine(url)
        try:
            with replay("--speed", "0") as rp:
                run = Run(stack, pg, rds, engine, rp, RedisKeys(PREFIX))
                expected = sum(len(ts) for ts in all_recorded_trades().values())
                run.seed_resume()
                repair, note = SCENARIO_RUNS[name](run, expected)
                reasons = run.reasons()
            stack.stop_all()
            first_last = {
                s: (min(t.trade_id for t in ts), max(t.trade_id for t in ts))
                for s, ts in all_recorded_trades().items()
            }
            verdict = check(engine, first_last)
        finally:
            stack.stop_all()
            engine.dispose()
    # The lease race punches its holes in ``trades`` alone (as a disk fault would); the
    # aggregates never knew the trades were gone, so refilling them counts them twice there.
    return Outcome(name, repair, verdict, reasons, note, aggregates=name != "lease-race")


def _writers_paused(run: Run, expected: int) -> tuple[float, str]:
    writer = run.stack.writer("w1")
    wait_until(run.group_exists, 60, "the writers' group", 0.1)
    _signal(writer, signal.SIGSTOP)
    collector = run.stack.collector(
        "c1", run.rp, TICKVAULT_STREAM_MAXLEN="2000", TICKVAULT_COLLECTOR_BUFFER_MAX="2000"
    )
    wait_until(lambda: _sent(run), 120, "every trade released", 0.2)
    wait_until(lambda: "stream backlog" in collector.tail(200), 60, "the buffer to overflow", 0.2)
    time.sleep(2)
    backlog = run.client().xlen(run.keys.stream)
    _signal(writer, signal.SIGCONT)
    return run.repaired(expected), f"stream held {backlog} entries at most while paused"


def _collector_killed(run: Run, expected: int) -> tuple[float, str]:
    btc = sorted(t.trade_id for t in all_recorded_trades()["BTCUSDT"])
    first, last = btc[1000], btc[18_999]
    run.rp.post_faults(
        {"faults": [{"type": "drop", "symbol": "BTCUSDT", "from_id": first, "to_id": last}]}
    )
    run.stack.writer("w1")
    collector = run.stack.collector("c1", run.rp, TICKVAULT_COLLECTOR_REST_WEIGHT_LIMIT="3000")
    wait_until(lambda: run.stored() >= 16_000 + 2_000, 120, "part of the backfill stored", 0.1)
    got = run.stored()
    collector.kill()
    collector.start()
    return run.repaired(expected), f"killed with {got} of {expected} stored"


def _redis_restart(run: Run, expected: int) -> tuple[float, str]:
    writer = run.stack.writer("w1")
    wait_until(run.group_exists, 60, "the writers' group", 0.1)
    _signal(writer, signal.SIGSTOP)
    run.stack.collector("c1", run.rp)
    wait_until(lambda: run.client().xlen(run.keys.stream) >= 20_000, 120, "unread entries", 0.1)
    run.rds.restart()
    _signal(writer, signal.SIGCONT)
    return run.repaired(expected), "restarted with 20,000+ entries unread"


def _redis_maxmemory(run: Run, expected: int) -> tuple[float, str]:
    run.stack.writer("w1")
    wait_until(run.group_exists, 60, "the writers' group", 0.1)
    admin = run.client()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]))
    collector = run.stack.collector("c1", run.rp, TICKVAULT_COLLECTOR_BUFFER_MAX="2000")
    wait_until(lambda: "buffering" in collector.tail(50), 60, "refused appends", 0.1)
    time.sleep(5)
    admin.config_set("maxmemory", 0)
    return run.repaired(expected), "appends refused (OOM) for 5 s"


def _lease_race(run: Run, expected: int) -> tuple[float, str]:
    run.stack.writer("w1")
    run.stack.collector("c0", run.rp)
    wait_until(lambda: run.stored() >= expected, 120, "every trade stored", 0.1)
    for svc in list(run.stack.services):
        if svc.name == "c0":
            svc.stop(30)
    with run.engine.begin() as conn:
        punched = conn.execute(
            text(
                "DELETE FROM trades WHERE (symbol = 'BTCUSDT' AND trade_id % 97 = 0)"
                " OR (symbol = 'ETHUSDT' AND trade_id % 89 = 0)"
            )
        ).rowcount
    more = {
        "TICKVAULT_COLLECTOR_AUDIT_INTERVAL_S": "2",
        "TICKVAULT_COLLECTOR_AUDIT_LOOKBACK_HOURS": str(24 * 3650),
    }
    auditors = [run.stack.collector(f"a{i}", run.rp, **more) for i in (0, 1)]
    repair = run.repaired(expected)
    time.sleep(3)  # another turn of both schedules
    refills = sum(_count(a, f"refilled={punched}") for a in auditors)
    return repair, f"{punched} trades punched out; audits that refilled them: {refills}"


def _count(svc: Service, needle: str) -> int:
    return svc.log_path.read_text(errors="replace").count(needle)


def _sent(run: Run) -> bool:
    """Return whether the replay has released every recorded trade."""
    got = released(run.rp)
    return all(
        got.get(s, (0, -1))[1] >= max(t.trade_id for t in ts)
        for s, ts in all_recorded_trades().items()
    )


def _signal(svc: Service, sig: signal.Signals) -> None:
    assert svc.proc is not None
    svc.proc.send_signal(sig)


SCENARIO_RUNS: dict[str, Callable[[Run, int], tuple[float, str]]] = {
    "writers-paused": _writers_paused,
    "collector-killed": _collector_killed,
    "redis-restart": _redis_restart,
    "redis-maxmemory": _redis_maxmemory,
    "lease-race": _lease_race,
}
