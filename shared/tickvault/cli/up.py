"""``tickvault up``: apply migrations, then run the whole pipeline in the foreground.

This is what ``make run`` (live Binance) and ``make demo`` (``--replay``) start: collector,
writer(s) and API as child processes, with the replay exchange first when replaying. The
planning lives in :mod:`tickvault.cli.up_plan`, the process keeping in
:mod:`tickvault.cli.up_supervisor`; this module parses the command and wires them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tickvault.cli.up_plan import Plan, UpOptions, UpSettings, build_plan
from tickvault.cli.up_supervisor import Output, Supervisor
from tickvault.config import Settings, load_settings
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault.logs import configure_logging, mask_secrets
from tickvault.redisconn import REDIS_ERRORS, connect, describe

READY_TIMEOUT_S = 30.0
DEMO_TABLES = "trades, candles_1m, price_levels_1m, trade_gaps"
_POLL_S = 0.25


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``up`` subcommand to *sub*."""
    parser = sub.add_parser(
        "up",
        help="apply migrations and run collector, writer(s) and API in the foreground",
        description="Apply migrations, then run collector, writer(s) and API with combined "
        "logs until Ctrl-C. Live Binance by default; --replay runs the offline demo.",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="run against a local replay exchange (a seeded synthetic market by default)",
    )
    parser.add_argument(
        "--recording",
        action="append",
        default=[],
        metavar="PATH",
        help="replay this recorded Binance stream instead (repeatable; implies --replay)",
    )
    parser.add_argument(
        "--speed",
        type=_non_negative,
        default=1.0,
        help="replay pace: 1 as recorded, 20 twenty times faster, 0 as fast as read (default 1)",
    )
    parser.add_argument("--seed", type=int, default=1, help="synthetic market seed (default 1)")
    parser.add_argument(
        "--replay-port", type=_port, default=0, help="replay exchange port (default: a free one)"
    )
    parser.add_argument(
        "--writers", type=_positive, default=1, help="writer processes to run (default 1)"
    )
    parser.add_argument(
        "--stop-timeout",
        type=_non_negative,
        default=15.0,
        help="seconds to wait for services to stop before killing them (default 15)",
    )
    parser.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    settings = load_settings(UpSettings)
    configure_logging("WARNING", json_lines=settings.log_json, service="up")
    recordings = tuple(str(Path(p).expanduser().resolve()) for p in args.recording)
    missing = [p for p in recordings if not Path(p).is_file()]
    if missing:
        print(f"tickvault up: no such recording: {missing[0]}", file=sys.stderr)  # noqa: T201
        return 2
    options = UpOptions(
        replay=args.replay or bool(recordings),
        recordings=recordings,
        speed=args.speed,
        seed=args.seed,
        writers=args.writers,
    )
    port = args.replay_port or (free_port() if options.replay else 0)
    plan = build_plan(settings, options, os.environ, python=sys.executable, replay_port=port)
    names = ["up", *(s.name for s in plan.services), "replay"]
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    output = Output(sys.stdout, width=max(map(len, names)), color=color)
    if not _migrate(plan.database_url, output):
        return 1
    if plan.fresh_demo and not _empty_demo(plan, settings, output):
        return 1
    return asyncio.run(_run(plan, output, settings, options, args.stop_timeout))


def _migrate(url: str, output: Output) -> bool:
    output.line("up", f"applying migrations to {mask_secrets(url)}")
    try:
        migrate.upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        output.line("up", f"cannot migrate the database: {mask_secrets(reason)}")
        output.line("up", "is PostgreSQL running? `make services` starts it")
        return False
    output.line("up", "database is at the latest revision")
    return True


def _empty_demo(plan: Plan, settings: Settings, output: Output) -> bool:
    """Empty the demo's own tables and Redis keys: the synthetic market reuses its trade ids."""
    output.line("up", f"starting the demo afresh: emptying its tables and {plan.redis_prefix}:*")
    engine = make_engine(plan.database_url, application_name="tickvault-up")
    client = connect(settings.redis_url, cluster=settings.redis_cluster, socket_connect_timeout=5)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {DEMO_TABLES}"))
        keys = list(client.scan_iter(match=f"{plan.redis_prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])  # a cluster client splits it by slot
    except SQLAlchemyError as exc:
        output.line("up", f"cannot empty the demo's data: {mask_secrets(str(exc).strip())}")
        return False
    except REDIS_ERRORS as exc:
        output.line("up", f"cannot empty the demo's data: {describe(exc)}")
        return False
    finally:
        client.close()
        engine.dispose()
    return True


async def _run(
    plan: Plan, output: Output, settings: Settings, options: UpOptions, stop_timeout: float
) -> int:
    supervisor = Supervisor(output, os.environ, stop_timeout=stop_timeout)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, supervisor.request_stop, "interrupted")
    loop.add_signal_handler(signal.SIGTERM, supervisor.request_stop, "terminated")
    if plan.replay is not None and plan.replay_rest_url is not None:
        supervisor.say(f"starting the replay exchange on {plan.replay_rest_url}")
        supervisor.add(plan.replay)
        ping = plan.replay_rest_url + "/api/v3/ping"
        if not await _wait_http(ping, supervisor, READY_TIMEOUT_S):
            supervisor.request_stop(
                f"the replay exchange did not answer {ping} within {READY_TIMEOUT_S:g} s", 1
            )
            return await supervisor.wait()
    for spec in plan.services:
        supervisor.add(spec)
    announcer = asyncio.create_task(_announce(plan, supervisor, settings, options))
    status = await supervisor.wait()
    announcer.cancel()
    supervisor.say("every service has stopped" if status == 0 else f"stopped (status {status})")
    return status


async def _announce(
    plan: Plan, supervisor: Supervisor, settings: Settings, options: UpOptions
) -> None:
    if not await _wait_http(plan.api_url + "/healthz", supervisor, None):
        return
    if options.recordings:
        market = f"replaying {len(options.recordings)} recording(s) at {options.speed:g}x"
    elif options.replay:
        market = f"replay exchange, synthetic market {','.join(settings.symbols)}"
    else:
        market = f"live Binance, {','.join(settings.symbols)}"
    for line in (
        f"tickvault is up ({market})",
        f"  dashboard  {plan.api_url}/",
        f"  API        {plan.api_url}/api/v1/prices/latest",
        f"  API docs   {plan.api_url}/docs",
        "Ctrl-C stops everything.",
    ):
        supervisor.say(line)


async def _wait_http(url: str, supervisor: Supervisor, timeout: float | None) -> bool:
    """Poll *url* until it answers 200; False on timeout or when stopping."""
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    while not supervisor.stopping.is_set():
        if await asyncio.to_thread(_answers, url):
            return True
        if deadline is not None and asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on *host* right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(_number(text))
    if value < 1 or value != _number(text):
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text}")
    return value


def _port(text: str) -> int:
    value = int(_number(text))
    if not 0 <= value <= 65535 or value != _number(text):
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"not a finite number: {text}")
    return value
