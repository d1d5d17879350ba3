"""The ``tickvault`` command: ``db``, ``up`` and ``query`` subcommands.

Each subcommand module exposes ``register(subparsers)``; this module only wires them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tickvault import __version__
from tickvault.cli import db


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole ``tickvault`` command."""
    parser = argparse.ArgumentParser(
        prog="tickvault", description="tickvault: exact Binance trade capture."
    )
    parser.add_argument("--version", action="version", version=f"tickvault {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db.register(sub)
    for name in ("up", "query"):
        try:
            module = __import__(f"tickvault.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tickvault`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
