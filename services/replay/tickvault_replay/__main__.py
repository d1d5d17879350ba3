"""``tickvault-replay``: run the replay exchange until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import date
from pathlib import Path

from tickvault.logs import configure_logging
from tickvault_replay.app import running_replay
from tickvault_replay.config import Limits, ReplayConfig

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(
        prog="tickvault-replay", description="A Binance-compatible exchange replaying trades."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9443, help="0 binds a free port")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--recording",
        action="append",
        metavar="[SYMBOL=]FILE",
        help="a recording to replay (repeatable)",
    )
    src.add_argument("--synthetic", metavar="SYMBOLS", help="e.g. BTCUSDT,ETHUSDT")
    src.add_argument(
        "--synthetic-market",
        type=int,
        metavar="N",
        help="N symbols modelled on Binance's spot list, Zipf-like rates",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--rate", type=float, default=20.0, help="synthetic trades/s per symbol (and new listing)"
    )
    p.add_argument("--top-rate", type=float, default=200.0, help="market: busiest symbol's rate")
    p.add_argument("--zipf", type=float, default=1.5, help="market: rank k trades top/k**zipf")
    p.add_argument("--universe", metavar="FILE", help="market: names from a real exchangeInfo")
    p.add_argument("--first-id", type=int, help="synthetic: first trade id (default: clock)")
    p.add_argument(
        "--archive-from",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="synthetic: also serve Binance's public trade archive from this day to yesterday",
    )
    p.add_argument("--archive-rate", type=float, default=0.5, help="archived trades/s per symbol")
    p.add_argument("--speed", type=float, default=1.0, help="0 = as fast as clients read")
    p.add_argument("--loop", action="store_true", help="repeat the recording, ids shifted")
    p.add_argument(
        "--start-now",
        action="store_true",
        help="start a recording's clock at launch, not at the first subscription",
    )
    p.add_argument("--faults", metavar="FILE", help="fault script (JSON)")
    p.add_argument("--port-file", metavar="PATH", help="write the bound port here")
    p.add_argument("--retention", type=int, default=1_000_000, help="trades REST keeps/symbol")
    p.add_argument("--log-level", default=os.environ.get("TICKVAULT_LOG_LEVEL", "INFO"))
    d = Limits()
    g = p.add_argument_group("limits (0 switches one off)")
    g.add_argument("--no-limits", action="store_true", help="switch every limit off")
    g.add_argument("--ping-interval", type=float, default=d.ping_interval_s)
    g.add_argument("--pong-timeout", type=float, default=d.pong_timeout_s)
    g.add_argument("--lifetime", type=float, default=d.lifetime_s, help="seconds")
    g.add_argument("--ws-msg-rate", type=int, default=d.ws_msg_rate, help="client msgs/s")
    g.add_argument("--max-streams", type=int, default=d.max_streams)
    g.add_argument("--max-connects", type=int, default=d.max_connects, help="per IP per window")
    g.add_argument("--connect-window", type=float, default=d.connect_window_s)
    g.add_argument("--rest-weight-limit", type=int, default=d.rest_weight_limit)
    g.add_argument("--rest-window", type=float, default=d.rest_window_s)
    g.add_argument("--ban-seconds", type=float, default=d.ban_s)
    g.add_argument("--strict-ids", action="store_true", help="reject UUID request ids")
    g.add_argument("--strict-pong", action="store_true", help="pong must echo the ping")
    g.add_argument(
        "--max-message-bytes", type=int, default=d.max_message_bytes, help="larger: no answer"
    )
    return p


def config_from_args(args: argparse.Namespace) -> ReplayConfig:
    """Return the config the parsed flags describe."""
    limits = Limits(
        args.ping_interval,
        args.pong_timeout,
        args.lifetime,
        args.ws_msg_rate,
        args.max_streams,
        args.max_connects,
        args.connect_window,
        args.rest_weight_limit,
        args.rest_window,
        args.ban_seconds,
        args.strict_ids,
        args.strict_pong,
        args.max_message_bytes,
    )
    if args.no_limits:
        limits = limits.without_limits()
    synthetic = tuple(args.synthetic.split(",")) if args.synthetic else ()
    return ReplayConfig(
        tuple(args.recording or ()),
        synthetic,
        args.seed,
        args.rate,
        args.speed,
        args.loop,
        args.host,
        args.port,
        args.faults,
        args.port_file,
        args.retention,
        start_now=args.start_now,
        limits=limits,
        first_id=args.first_id,
        market=args.synthetic_market or 0,
        universe=args.universe,
        top_rate=args.top_rate,
        zipf=args.zipf,
        archive_from=args.archive_from,
        archive_rate=args.archive_rate,
    )


async def serve(config: ReplayConfig) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_replay(config) as replay:
        if config.port_file:
            tmp = Path(config.port_file + ".tmp")
            tmp.write_text(f"{replay.port}\n")
            tmp.replace(config.port_file)
        log.info("tickvault-replay listening on http://%s:%d", replay.host, replay.port)
        await stop.wait()
        log.info("stopping")


def main(argv: list[str] | None = None) -> int:
    """Run the replay exchange; return the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(
        args.log_level, json_lines=os.environ.get("TICKVAULT_LOG_JSON") == "1", service="replay"
    )
    try:
        config = config_from_args(args)
        asyncio.run(serve(config))
    except (ValueError, OSError) as exc:
        log.error("tickvault-replay: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
