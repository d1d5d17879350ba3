"""The ``tickvault`` command: ``db``, ``import``, ``up``, ``query`` and ``cold`` subcommands.

Each subcommand module exposes ``register(subparsers)``; this module only wires them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from tickvault import __version__
from tickvault.cli import archive_import, db
from tickvault.logs import mask_secrets


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole ``tickvault`` command."""
    parser = argparse.ArgumentParser(
        prog="tickvault", description="tickvault: exact Binance trade capture."
    )
    parser.add_argument("--version", action="version", version=f"tickvault {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db.register(sub)
    archive_import.register(sub)
    for name in ("up", "query", "cold"):
        try:
            module = __import__(f"tickvault.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tickvault`` command; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"]:  # every option, --help included, is the import's own
        return archive_import.run_module(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except OperationalError as exc:
        # The database cannot be reached: one line an operator can act on, not a traceback.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"tickvault: PostgreSQL is unreachable: {mask_secrets(reason)}", file=sys.stderr)  # noqa: T201
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
