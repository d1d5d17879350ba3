"""``tickvault db`` facing an unreachable PostgreSQL: one clear line, no traceback, no secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def test_unreachable_database_is_one_line_without_the_password() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TICKVAULT_DATABASE_URL": f"postgresql://tv:s3cret@127.0.0.1:{port}/x"}
    done = subprocess.run(
        [sys.executable, "-m", "tickvault", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tickvault: PostgreSQL is unreachable: ")
    assert f"port {port} failed" in lines[0]
    assert "s3cret" not in done.stderr + done.stdout
