"""``python -m tickvault_writer.archive``: what ``tickvault import`` runs.

Exit status: 0 when every trade of the range is stored, 1 when some range could not be
repaired (each is listed, and recorded in ``trade_gaps`` as ``unfillable``) or the store
failed, 2 for bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

import aiohttp
import msgspec
import pyarrow as pa
from sqlalchemy import Engine

from tickvault.cold.location import open_location
from tickvault.config import load_settings
from tickvault.db.engine import make_engine
from tickvault.errors import ExchangeError, TickvaultError
from tickvault.logs import configure_logging, mask_secrets
from tickvault.rest.client import ExchangeRest
from tickvault.rest.schedule import Priority
from tickvault.symbols import Selection
from tickvault_writer.archive.cold_days import cold_before
from tickvault_writer.archive.download import Downloader
from tickvault_writer.archive.importer import ColdTier, Context, SymbolImport, SymbolReport
from tickvault_writer.archive.ledger import Ledger
from tickvault_writer.archive.metrics import ImportMetrics
from tickvault_writer.archive.periods import ArchiveFile
from tickvault_writer.archive.progress import LineProgress, for_terminal
from tickvault_writer.archive.settings import ImportSettings
from tickvault_writer.store import PgStore

log = logging.getLogger("tickvault_writer.archive")


class _Listed(msgspec.Struct):
    symbol: str
    status: str = ""


class _Info(msgspec.Struct):
    symbols: list[_Listed]


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``tickvault import``."""
    p = argparse.ArgumentParser(
        prog="tickvault import", description="Bring Binance's public trade archive into the store."
    )
    p.add_argument("symbols", nargs="*", metavar="SYMBOL", help="default: TICKVAULT_SYMBOLS")
    p.add_argument("--from", dest="first", required=True, type=_day, metavar="YYYY-MM-DD")
    p.add_argument(
        "--to",
        dest="last",
        type=_day,
        metavar="YYYY-MM-DD",
        help="inclusive; default: the last day the archive has published",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    return p


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


async def _symbols(selection: Selection, rest: ExchangeRest) -> list[str]:
    if selection.is_explicit:
        return list(selection.names)
    body = await rest.get("/api/v3/exchangeInfo", {}, 20, Priority.ARCHIVE)
    info = msgspec.json.decode(body, type=_Info)
    return sorted(selection.choose({s.symbol: s.status for s in info.symbols}))


async def _last_published(downloader: Downloader, base: str, symbol: str, today: date) -> date:
    """Return yesterday when its file is out, else the day before."""
    yesterday = today - timedelta(days=1)
    probe = ArchiveFile(symbol, yesterday, today, False)
    return yesterday if await downloader.checksum(probe.url(base)) else yesterday - timedelta(1)


async def run(args: argparse.Namespace, settings: ImportSettings) -> int:
    """Import every symbol's range; return the exit status."""
    today = datetime.now(UTC).date()
    selection = Selection.parse(args.symbols) if args.symbols else settings.selection
    timeout = aiohttp.ClientTimeout(total=settings.archive_timeout_s, sock_read=60)
    progress = for_terminal() if not args.json else LineProgress()
    metrics = ImportMetrics()
    metrics.serve(settings.import_metrics_port, settings.import_metrics_bind)
    rest = ExchangeRest.budgeted(
        settings.binance_rest_url,
        settings.collector_rest_weight_limit,
        settings.collector_rest_weight_share,
        on_request=lambda path, status: metrics.rest_requests.labels(path, status).inc(),
        backoff_max=settings.collector_backoff_max_s,
    )
    store = PgStore(settings.database_url, application_name="tickvault-import")
    engine = make_engine(settings.database_url)
    cold = _cold_tier(settings, engine)
    reports: list[SymbolReport] = []
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            downloader = Downloader(session)
            symbols = await _symbols(selection, rest)
            last = args.last or await _last_published(
                downloader, settings.archive_url, symbols[0], today
            )
            if last < args.first or last >= today:
                _say(
                    f"tickvault import: --to must be from --from to yesterday, not {last}",
                )
                return 2
            ledger = Ledger(engine, open_location(settings))
            ctx = Context(
                settings.archive_url, store, ledger, downloader, progress, rest, cold, metrics
            )
            for symbol in symbols:
                reports.append(await SymbolImport(ctx, symbol, args.first, last, today).run())
    except (TickvaultError, ExchangeError) as exc:
        _say(f"tickvault import: {mask_secrets(str(exc))}")
        return 1
    finally:
        progress.close()
        await rest.close()
        store.close()
        engine.dispose()
    return _summary(reports, args, settings, cold)


def _cold_tier(settings: ImportSettings, engine: Engine) -> ColdTier | None:
    """Return where days past the hot window go, or None (no cold tier, or nothing expires)."""
    location = open_location(settings)
    if location is None or not settings.retention_hours:
        return None
    before = cold_before(datetime.now(UTC), settings.retention_hours)
    return ColdTier(engine, location, before)


def _summary(
    reports: list[SymbolReport],
    args: argparse.Namespace,
    settings: ImportSettings,
    cold: ColdTier | None,
) -> int:
    complete = all(r.complete for r in reports)
    if args.json:
        body = {
            "complete": complete,
            "symbols": [asdict(r) | {"complete": r.complete} for r in reports],
        }
        sys.stdout.write(msgspec.json.encode(body, enc_hook=str).decode() + "\n")
    for r in reports:
        unfilled = [h for h in r.holes if h.status != "filled"]
        _say(
            f"{r.symbol}: ids {r.first_id}..{r.last_id}, {r.rows} archive rows ({r.inserted} new),"
            f" {r.cold_rows} to the cold tier, {len(r.holes)} holes,"
            f" {r.repaired} trades repaired from REST ({r.rest_calls} calls)"
            + ("" if r.listed else ", not listed on the exchange: no REST repair"),
        )
        for h in unfilled:
            _say(f"  not repaired: {r.symbol} ids {h.first_id}..{h.last_id}")
    if cold is not None:
        _say(
            f"days before {cold.before} went to the cold tier ({cold.location.url}),"
            " later days to PostgreSQL, where the writer's maintenance moves them in turn",
        )
    elif settings.retention_hours:
        _say(
            f"note: trades older than TICKVAULT_RETENTION_HOURS={settings.retention_hours} leave"
            " PostgreSQL at the writer's next maintenance (0 keeps everything)",
        )
    return 0 if complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tickvault import``; return its exit status."""
    args = build_parser().parse_args(argv)
    settings = load_settings(ImportSettings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="import")
    logging.getLogger("tickvault.db.partitions").setLevel(logging.WARNING)  # a line an hour
    # Arrow's default allocator keeps freed blocks for reuse: ~30 MB more at the peak for the
    # same speed here (the import's arrays are few and large), so the C library's is used.
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        return asyncio.run(run(args, settings))
    except ValueError as exc:
        _say(f"tickvault import: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("tickvault import: interrupted; run it again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
