"""``tickvault-writer``: run a writer replica, or ``--check`` that one is alive."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from tickvault.config import load_settings
from tickvault.logs import configure_logging
from tickvault.redisconn import REDIS_ERRORS, connect, describe
from tickvault_writer.settings import WriterSettings

log = logging.getLogger(__name__)


def check(settings: WriterSettings) -> int:
    """Return 0 when a fresh writer heartbeat exists (this replica's, when named), else 1."""
    keys = settings.redis_keys
    client = connect(
        settings.redis_url,
        cluster=settings.redis_cluster,
        socket_connect_timeout=3,
        socket_timeout=3,
    )
    try:
        if settings.writer_consumer:
            alive = bool(client.exists(keys.heartbeat("writer", settings.writer_consumer)))
        else:
            alive = next(client.scan_iter(match=keys.heartbeat_pattern("writer")), None) is not None
    except REDIS_ERRORS as exc:
        print(f"tickvault-writer: {describe(exc)}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        client.close()
    print("ok" if alive else "no fresh writer heartbeat")  # noqa: T201
    return 0 if alive else 1


def main(argv: list[str] | None = None) -> int:
    """Run the writer until SIGTERM/SIGINT; exit 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="tickvault-writer", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 0 when a writer is alive")
    args = parser.parse_args(argv)
    settings = load_settings(WriterSettings)
    if args.check:
        return check(settings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="writer")
    from tickvault_writer.service import Writer, tune_gc  # heavy imports only when running

    writer = Writer(settings)
    tune_gc()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the batch in flight", signum)
        writer.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    writer.metrics.serve(settings.writer_metrics_port, settings.writer_metrics_bind)
    return writer.run()


if __name__ == "__main__":
    sys.exit(main())
