"""A busy metrics port is logged and never stops the collector."""

from __future__ import annotations

import logging
import socket

import pytest

from tickvault_collector.metrics import Metrics


def test_busy_metrics_port_is_a_warning_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="tickvault.metrics"):
            assert Metrics().serve(port) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"metrics not served: cannot listen on 0.0.0.0:{port} (")
