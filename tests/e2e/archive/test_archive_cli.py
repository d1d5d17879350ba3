"""``tickvault import`` refuses bad arguments and configuration with exit status 2 and one
line, before it reaches any server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    # nothing listens on port 1: a test that reached a server would fail differently
    base |= {"TICKVAULT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    base |= {"TICKVAULT_BINANCE_REST_URL": "http://127.0.0.1:1", **env}
    return subprocess.run(
        [sys.executable, "-m", "tickvault", "import", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (("BTCUSDT",), {}, "--from"),
        (("BTCUSDT", "--from", "2025-02-30"), {}, "not a day"),
        (("BTCUSDT", "--from", "2025-01-05", "--to", "2025-01-01"), {}, "--to must be"),
        (("bad name!", "--from", "2025-01-01", "--to", "2025-01-02"), {}, "not a Binance symbol"),
        (("BTCUSDT", "--from", "2025-01-01"), {"TICKVAULT_ARCHIVE_URL": "ftp://x"}, "ARCHIVE_URL"),
    ],
)
def test_bad_arguments_and_configuration_exit_2(
    args: tuple[str, ...], env: dict[str, str], says: str
) -> None:
    done = _run(*args, **env)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_help_is_the_imports_own() -> None:
    done = _run("--help")
    assert done.returncode == 0 and "--from YYYY-MM-DD" in done.stdout
