"""``tickvault cold move``: move every day of trades past retention to the cold tier now."""

from __future__ import annotations

import argparse
import logging
import sys

from tickvault.cold.move import maintain_tiers
from tickvault.cold.storage import ColdUnavailable
from tickvault.config import Settings, load_settings
from tickvault.db.engine import make_engine
from tickvault.errors import TickvaultError
from tickvault.logs import configure_logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cold`` subcommands to *sub*."""
    parser = sub.add_parser("cold", help="the cold tier of Parquet files")
    cold_sub = parser.add_subparsers(dest="cold_command", required=True, metavar="ACTION")
    move = cold_sub.add_parser(
        "move", help="move every partition past TICKVAULT_RETENTION_HOURS to the cold tier now"
    )
    move.set_defaults(handler=_move)


def _move(args: argparse.Namespace) -> int:
    settings = load_settings(Settings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="cold")
    if not settings.cold_url:
        print("tickvault: invalid configuration: TICKVAULT_COLD_URL: is not set", file=sys.stderr)  # noqa: T201
        return 2
    if not settings.retention_hours:
        log.info("TICKVAULT_RETENTION_HOURS is 0: everything stays in PostgreSQL")
        return 0
    engine = make_engine(settings.database_url, application_name="tickvault-cold-move")
    try:
        _, moved = maintain_tiers(engine, settings, fill_budget_s=None)
    except (ColdUnavailable, TickvaultError) as exc:
        print(f"tickvault: the move did not finish: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        engine.dispose()
    assert moved is not None
    log.info(
        "moved %d days (%s): %d trades in %d files; %d partitions dropped; %d cold days expired; "
        "aggregates recorded for %d older files",
        len(moved.days),
        ", ".join(d.isoformat() for d in moved.days) or "none past retention",
        moved.trades,
        moved.files,
        len(moved.dropped),
        moved.expired,
        moved.aggregated,
    )
    return 0
