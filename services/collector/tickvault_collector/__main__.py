"""``tickvault-collector`` (and ``python -m tickvault_collector``): run, or ``--check`` health."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tickvault.config import load_settings
from tickvault.logs import configure_logging
from tickvault.redisconn import REDIS_ERRORS, connect
from tickvault_collector.app import run
from tickvault_collector.settings import CollectorSettings


def check(settings: CollectorSettings) -> int:
    """Return 0 when a fresh collector heartbeat exists in Redis, else 1."""
    client = connect(settings.redis_url, cluster=settings.redis_cluster, socket_connect_timeout=3)
    try:
        pattern = settings.redis_keys.heartbeat_pattern("collector")
        return 0 if next(iter(client.scan_iter(match=pattern, count=1000)), None) else 1
    except REDIS_ERRORS:
        return 1
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read settings once and run the collector."""
    parser = argparse.ArgumentParser(
        prog="tickvault-collector",
        description="Capture every Binance trade of TICKVAULT_SYMBOLS into the Redis Stream.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a collector heartbeat is fresh, 1 otherwise",
    )
    parser.add_argument(
        "--audit-once",
        action="store_true",
        help="find trade ids missing from PostgreSQL, refill them from REST, "
        "exit (0: all refilled, 1: some unfillable, 3: lease held)",
    )
    args = parser.parse_args(argv)
    settings = load_settings(CollectorSettings)
    if args.check:
        return check(settings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="collector")
    if args.audit_once:
        from tickvault_collector.gaps.audit_once import audit_once

        return asyncio.run(audit_once(settings))
    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
