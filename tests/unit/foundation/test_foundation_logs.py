"""Logging: secrets never reach a log line, in text or JSON, message or traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from tickvault.logs import configure_logging, mask_secrets
from tickvault_api.settings import ApiSettings

SECRET = "s3cr3t-pa55"
DB_URL = f"postgresql://writer:{SECRET}@db.internal:5432/tickvault"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was (configure_logging replaces its handlers)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (DB_URL, "postgresql://writer:***@db.internal:5432/tickvault"),
        ("redis://:pw@h:6379/0 and amqp://u:p@q/", "redis://:***@h:6379/0 and amqp://u:***@q/"),
        ("postgresql://postgres@127.0.0.1/tickvault", "postgresql://postgres@127.0.0.1/tickvault"),
        ("no url here: a:b@c", "no url here: a:b@c"),
    ],
)
def test_mask_secrets_hides_url_passwords_only(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_text_log_lines_mask_passwords(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", service="writer")
    log = logging.getLogger("tickvault.test")
    log.info("connecting to %s", DB_URL)
    log.info("settings: %s", ApiSettings(_env_file=None, database_url=DB_URL))
    log.warning("inline " + DB_URL)
    try:
        raise ConnectionError(f"cannot reach {DB_URL}")
    except ConnectionError:
        log.exception("giving up")
    err = capsys.readouterr().err
    assert SECRET not in err
    # connecting, settings (database_url and api_database_url), inline, traceback
    assert err.count("writer:***@db.internal") == 5
    assert " writer tickvault.test: connecting to postgresql://writer:***@" in err


def test_json_log_lines_mask_passwords(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True, service="api")
    log = logging.getLogger("tickvault.test")
    log.info("connecting to %s", DB_URL)
    try:
        raise ConnectionError(f"cannot reach {DB_URL}")
    except ConnectionError:
        log.exception("giving up")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["logger"], r["service"], r["message"]) for r in lines] == [
        ("INFO", "tickvault.test", "api", "connecting to " + mask_secrets(DB_URL)),
        ("ERROR", "tickvault.test", "api", "giving up"),
    ]
    assert "ConnectionError: cannot reach postgresql://writer:***@" in lines[1]["exc_info"]
    assert SECRET not in json.dumps(lines)


def test_a_bad_format_call_does_not_raise(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    logging.getLogger("tickvault.test").info("%s and %s", "only one")  # must not raise
    logging.getLogger("tickvault.test").info("still logging")
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err
    assert "tickvault.test: still logging" in err
