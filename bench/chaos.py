"""``make chaos``: lose nothing, double nothing, while everything that can fail does.

    python bench/chaos.py [--trades 500000] [--collectors 2] [--writers 2]

On a private PostgreSQL and a private Redis (never the machine's shared servers), the replay
exchange loops both real recordings at ``--speed 0`` while:

- the replay drops 1 % of WebSocket trade frames, duplicates 0.5 %, sends malformed frames
  (truncated, wrong types, binary, unknown events) and cuts every connection several times
  (abrupt TCP close, ``serverShutdown``);
- one collector (of ``--collectors``, all on the same symbols) and the writer replicas are
  SIGKILLed several times and started again;
- Redis is killed and started empty once (no persistence: unread entries are lost), and
  PostgreSQL is crashed (``pg_ctl -m immediate``) and started once.

With ``--scenarios`` it also runs (by default after that one) the no-silent-loss scenarios
of :mod:`chaos_noloss`: writers paused past the stream bound, the collector killed during a
large backfill, Redis restarted empty, Redis at ``maxmemory``, two audits racing for the
lease, each with its time to repair.

Then the collectors stop, the writers drain, the gap auditor (``tickvault-collector
--audit-once``) refills what PostgreSQL lacks, the writers drain again, and every released
trade id is checked (``chaos_check.py``). Exit status 1 when anything is lost, doubled or
wrong, or a gap is left open.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # bench's modules, and tests.support

import redis  # noqa: E402
from tests.private_servers import PrivatePostgres, PrivateRedis  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402

from chaos_noloss import SCENARIOS, run_all  # noqa: E402
from common import Service, Stack, released, replay  # noqa: E402
from tickvault.db.engine import make_engine  # noqa: E402
from tickvault.keys import WRITER_GROUP, RedisKeys  # noqa: E402

PREFIX = "tvchaos"
BTC_SHARE = 19_904 / 34_419  # BTCUSDT's share of the recordings' trades
LEASE_WAIT_S = 90  # longer than the audit lease (60 s) a killed auditor leaves behind
MALFORMED = ("truncated", "wrong_types", "binary", "unknown_event")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Run the tickvault fault scenario.")
    p.add_argument("--trades", type=int, default=500_000, help="trades the replay releases")
    p.add_argument("--collectors", type=int, default=2)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument(
        "--scenarios",
        default="faults," + ",".join(SCENARIOS),
        help="comma-separated: faults (the mixed fault run) and the no-loss scenarios "
        + ", ".join(SCENARIOS),
    )
    return p.parse_args()


def trade_faults(first_btc: int, trades: int) -> list[dict[str, Any]]:
    """Return the replay's fault script: drops, duplicates, malformed frames, cuts."""
    faults: list[dict[str, Any]] = [
        {"type": "drop", "fraction": 0.01, "seed": 11},
        {"type": "duplicate", "fraction": 0.005, "seed": 12, "copies": 1},
    ]
    faults += [
        {"type": "malformed", "fraction": 0.0005, "seed": 20 + i, "kind": kind}
        for i, kind in enumerate(MALFORMED)
    ]
    btc = trades * BTC_SHARE
    faults += [
        {"type": "abrupt_close", "symbol": "BTCUSDT", "at_trade_id": first_btc + int(f * btc)}
        for f in (0.12, 0.3, 0.47, 0.72, 0.83)
    ]
    faults.append(
        {
            "type": "server_shutdown",
            "symbol": "BTCUSDT",
            "at_trade_id": first_btc + int(0.58 * btc),
            "close_after_s": 0.5,
        }
    )
    return faults


class Scenario:
    """The process faults, fired as the replay passes fractions of the trades to release."""

    def __init__(
        self,
        collectors: list[Service],
        writers: list[Service],
        pg: PrivatePostgres,
        rds: PrivateRedis,
    ) -> None:
        w = writers
        self.plan: list[tuple[float, str, Any]] = [
            (0.10, "SIGKILL writer", [w[0]]),
            (0.15, "SIGKILL collector", collectors[0]),
            (0.25, "SIGKILL writer", [w[-1]]),
            (0.35, "SIGKILL collector", collectors[0]),
            (0.40, "restart Redis (empty)", rds),
            (0.50, "SIGKILL writer", [w[0]]),
            (0.62, "crash+restart PostgreSQL", pg),
            (0.68, "SIGKILL collector", collectors[0]),
            (0.78, "SIGKILL writer", w),
            (0.90, "SIGKILL collector", collectors[0]),
        ]
        self.done: list[tuple[str, float]] = []

    def fire_due(self, progress: float) -> None:
        while self.plan and self.plan[0][0] <= progress:
            at, what, target = self.plan.pop(0)
            t0 = time.monotonic()
            if what.startswith("SIGKILL"):
                targets = target if isinstance(target, list) else [target]
                for svc in targets:
                    svc.kill()
                for svc in targets:
                    svc.start()
            else:
                target.restart()
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            self.done.append((f"{what} at {at:.0%} ({stamp})", round(time.monotonic() - t0, 2)))
            print(f"  fault: {what} at {progress:.0%}", flush=True)


def drained(client: redis.Redis, keys: RedisKeys) -> bool:
    """Return whether the writers' group exists and has nothing pending or unread."""
    try:
        for group in client.xinfo_groups(keys.stream):
            if group["name"] in (WRITER_GROUP, WRITER_GROUP.encode()):
                return int(group["pending"]) == 0 and int(group["lag"] or 0) == 0
    except redis.RedisError:
        return False
    return False


def main() -> int:
    args = parse()
    wanted = tuple(s for s in args.scenarios.split(",") if s)
    unknown = set(wanted) - {"faults", *SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    run_dir = Path(tempfile.mkdtemp(prefix="tvchaos-"))
    ok = True
    try:
        if "faults" in wanted:
            ok = mixed_faults(args, run_dir)
        noloss = tuple(s for s in SCENARIOS if s in wanted)
        if noloss:
            ok = print_noloss(run_all(run_dir, noloss)) and ok
    finally:
        if args.keep_logs:
            print(f"logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if ok else 1


def print_noloss(outcomes: list[Any]) -> bool:
    """Print one row per no-loss scenario; return whether every one passed."""
    from chaos_check import rows

    print("\nno-silent-loss scenarios (audits off but for lease-race; both recordings, 34,419)")
    print(f"  {'scenario':<18}{'lost':>6}{'doubled':>9}{'wrong':>7}{'repair s':>10}  result")
    for o in outcomes:
        v = o.verdict
        passed = o.ok
        lost = sum(v.missing.values())
        print(
            f"  {o.name:<18}{lost:>6}{v.doubled:>9}{o.wrong:>7}{o.repair_s:>10.1f}  "
            f"{'ok' if passed else 'FAILED'}  gaps by reason {o.reasons}; {o.note}"
        )
        if not passed:
            for label, value, good in rows(v):
                if not good:
                    print(f"      {label}: {value}")
    return all(o.ok for o in outcomes)


def mixed_faults(args: argparse.Namespace, run_dir: Path) -> bool:
    """Run the mixed fault scenario; print its tables; return whether it passed."""
    from chaos_check import check

    started = time.monotonic()
    with PrivatePostgres() as pg, PrivateRedis() as rds:
        url = pg.url("tvchaos")
        stack = Stack.migrated(
            url,
            rds.url,
            PREFIX,
            run_dir,
            TICKVAULT_COLLECTOR_REST_WEIGHT_LIMIT="1000000",
            TICKVAULT_WRITER_CLAIM_IDLE_MS="3000",
        )
        keys = RedisKeys(PREFIX)
        client = redis.Redis.from_url(rds.url, socket_timeout=5)
        try:
            scenario, audit, final, captured = run(args, stack, pg, rds, client, keys)
        finally:
            stack.stop_all()
        engine = make_engine(url)
        verdict = check(engine, final, captured)
        engine.dispose()
        dead = _dead(client, keys)
        client.close()
    print_tables(args, scenario, audit, verdict, dead, time.monotonic() - started)
    return bool(verdict.ok)


def run(
    args: argparse.Namespace,
    stack: Stack,
    pg: PrivatePostgres,
    rds: PrivateRedis,
    client: redis.Redis,
    keys: RedisKeys,
) -> tuple[Scenario, str, dict[str, tuple[int, int]], dict[str, int]]:
    """Run the pipeline under faults, stop it, audit; return the scenario, audit log, ids
    released and the highest id stored per symbol before the audit."""
    from chaos_check import highest_stored

    with replay("--speed", "0", "--loop", "--no-limits") as rp:
        writers = [stack.writer(f"chaos-writer{i}") for i in range(args.writers)]
        collectors = [stack.collector(f"chaos-collector{i}", rp) for i in range(args.collectors)]

        def total() -> int:
            return sum(int(v["trades_available"]) for v in rp.stats()["symbols"].values())

        wait_until(lambda: total() >= 2000, 120, "the first trades", 0.1)
        first_btc = released(rp)["BTCUSDT"][0]
        rp.post_faults({"faults": trade_faults(first_btc, args.trades)})
        scenario = Scenario(collectors, writers, pg, rds)
        while (done := total()) < args.trades or scenario.plan:
            scenario.fire_due(done / args.trades)
            time.sleep(0.05)
        rp.clear_faults()
        for svc in collectors:
            svc.stop(20)
        final = released(rp)
        wait_until(lambda: drained(client, keys), 600, "the writers to drain", 0.5)
        engine = make_engine(pg.url("tvchaos"))
        captured = highest_stored(engine)
        engine.dispose()
        audit = final_audit(stack.env(rp))
        wait_until(lambda: drained(client, keys), 600, "the writers to store the audit", 0.5)
    audit_log = "\n".join(
        line for line in (audit.stdout + audit.stderr).splitlines() if "audit " in line
    )
    return scenario, f"exit {audit.returncode}\n{audit_log}", final, captured


def _dead(client: redis.Redis, keys: RedisKeys) -> int:
    try:
        return int(client.xlen(keys.dead_letter))
    except redis.RedisError:
        return -1


def final_audit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``--audit-once``; while it finds the audit lease held (exit 3: a SIGKILLed
    collector's scheduled audit held it), wait for the lease to expire and run it again."""
    deadline = time.monotonic() + LEASE_WAIT_S
    while True:
        audit = subprocess.run(
            [sys.executable, "-m", "tickvault_collector", "--audit-once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if audit.returncode != 3 or time.monotonic() > deadline:
            return audit
        print("  the audit lease is held (a killed collector's audit); waiting", flush=True)
        time.sleep(5)


def print_tables(
    args: argparse.Namespace,
    scenario: Scenario,
    audit: str,
    verdict: Any,
    dead: int,
    seconds: float,
) -> None:
    from chaos_check import rows

    print(
        f"\nfaults injected ({args.collectors} collectors, {args.writers} writers, "
        f"{args.trades:,} trades at --speed 0)"
    )
    print(
        "  replay: 1% of trade frames dropped, 0.5% duplicated, 0.2% preceded by a malformed"
        " frame (truncated / wrong types / binary / unknown event),"
    )
    print("          5 abrupt TCP closes and 1 serverShutdown on every connection")
    for what, took in scenario.done:
        print(f"  {what:<40} ({took:.1f} s)")
    print(f"\ngap auditor: {audit}")
    print(f"dead-lettered stream entries: {dead}")
    print("\noutcome")
    for label, value, passed in rows(verdict):
        print(f"  {label:<46}{value!s:>30}  {'ok' if passed else 'FAILED'}")
    print(f"\nauditor holes inside collector gaps still open when found: {verdict.audited_in_open}")
    if verdict.audited_tail:
        print("\nreleased after the last id the collectors captured (the auditor's tail):")
        for symbol, first, last, when in verdict.audited_tail:
            print(f"  {symbol} {first}..{last} ({last - first + 1}) {when}")
    if verdict.audited:
        print("\nholes no collector recorded (found by the auditor): symbol, ids, detected at")
        for symbol, first, last, when in verdict.audited:
            print(f"  {symbol} {first}..{last} ({last - first + 1}) {when}")
    print(f"\n{'PASS' if verdict.ok else 'FAIL'}: chaos run took {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
