"""Logging set-up shared by every service: one ``dictConfig`` at start, text or JSON lines.

Secrets never reach a log: every record passes through :class:`SecretMaskingFilter`, which
masks the password of any URL in the message and its arguments.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+)@")


def mask_secrets(text: str) -> str:
    """Replace the password of every URL in *text* with ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


class SecretMaskingFilter(logging.Filter):
    """Mask URL passwords in a record's formatted message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format call: let the handler report it, as logging does
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            _mask_traceback(record)
        return True


def _mask_traceback(record: logging.LogRecord) -> None:
    """Replace the record's traceback by its masked text when it holds a secret."""
    assert record.exc_info is not None
    text = logging.Formatter().formatException(record.exc_info)
    masked = mask_secrets(text)
    if masked != text:
        # Both the text and the JSON formatter print exc_text when exc_info is gone.
        record.exc_info, record.exc_text = None, masked


def configure_logging(level: str = "INFO", *, json_lines: bool = False, service: str = "") -> None:
    """Configure the root logger once, at process start."""
    fmt = (
        "%(asctime)s %(levelname)-5s "
        + (f"{service} " if service else "")
        + "%(name)s: %(message)s"
    )
    formatter: dict[str, Any] = {"format": fmt}
    if json_lines:
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "static_fields": {"service": service} if service else {},
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"secrets": {"()": SecretMaskingFilter}},
            "formatters": {"default": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "default",
                    "filters": ["secrets"],
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level.upper(), "handlers": ["stderr"]},
            "loggers": {"websockets": {"level": "WARNING"}, "aiohttp.access": {"level": "WARNING"}},
        }
    )
