"""``tickvault db``: apply migrations, check them, and maintain partitions."""

from __future__ import annotations

import argparse
import logging

from tickvault.cold.move import maintain_tiers
from tickvault.config import Settings, load_settings
from tickvault.db import migrate
from tickvault.db.engine import make_engine
from tickvault.logs import configure_logging, mask_secrets

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``db`` subcommands to *sub*."""
    parser = sub.add_parser("db", help="database migrations and maintenance")
    dbsub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    up = dbsub.add_parser("upgrade", help="create the database if missing and apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_upgrade)

    down = dbsub.add_parser("downgrade", help="undo migrations (default: all of them)")
    down.add_argument("revision", nargs="?", default="base")
    down.set_defaults(handler=_downgrade)

    dbsub.add_parser("check", help="fail when models and migrations disagree").set_defaults(
        handler=_check
    )
    dbsub.add_parser("current", help="print the applied revision").set_defaults(handler=_current)

    m = dbsub.add_parser(
        "maintain", help="create partitions ahead, drop (or move to the cold tier) expired ones"
    )
    m.add_argument("--hours-ahead", type=int, default=3)
    m.set_defaults(handler=_maintain)


def _setup() -> str:
    settings = load_settings(Settings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="db")
    return settings.database_url


def _upgrade(args: argparse.Namespace) -> int:
    url = _setup()
    created = migrate.upgrade(url, args.revision)
    if created:
        log.info("created database %s", mask_secrets(url))
    log.info("database is at revision %s", args.revision)
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    migrate.downgrade(_setup(), args.revision)
    return 0


def _check(args: argparse.Namespace) -> int:
    migrate.check(_setup())
    log.info("models and migrations agree")
    return 0


def _current(args: argparse.Namespace) -> int:
    migrate.current(_setup())
    return 0


def _maintain(args: argparse.Namespace) -> int:
    settings = load_settings(Settings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="db")
    engine = make_engine(settings.database_url, application_name="tickvault-maintain")
    try:
        report, _moved = maintain_tiers(engine, settings, hours_ahead=args.hours_ahead)
    finally:
        engine.dispose()
    log.info(
        "maintenance: created %d partitions, dropped %d (%s)",
        len(report.created),
        len(report.dropped),
        ", ".join(report.dropped) or "none expired",
    )
    return 0
