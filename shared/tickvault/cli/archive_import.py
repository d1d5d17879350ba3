"""``tickvault import``: Binance's public trade archive into the store.

The import stores trades through the writer's store (one mechanism for every row that enters
PostgreSQL), and ``tickvault`` imports no service, so this process becomes ``python -m
tickvault_writer.archive`` with the same arguments (``exec``: a kill or Ctrl-C reaches the
import itself), and its exit status is the command's: 0 every trade of the range is stored,
1 some range could not be repaired, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys

MODULE = "tickvault_writer.archive"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``import`` subcommand to *sub*."""
    parser = sub.add_parser(
        "import",
        help="bring Binance's public trade archive into the store",
        description="Import [SYMBOL ...] --from YYYY-MM-DD [--to YYYY-MM-DD] [--json]; "
        "exit 0 when every trade of the range is stored, 1 when some range could not be "
        "repaired, 2 on bad arguments.",
        add_help=False,
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the import with the parsed arguments; return its exit status."""
    return run_module(list(args.rest))


def run_module(argv: list[str]) -> int:
    """Become the import (``exec``): signals, Ctrl-C and the exit status are its own."""
    os.execv(sys.executable, [sys.executable, "-m", MODULE, *argv])
    return 1  # not reached: execv returns only by raising
