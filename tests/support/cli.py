"""Run the installed ``tickvault`` command as an operator would, in a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def tickvault_script(name: str = "tickvault") -> str:
    """Return a console script of the project (``tickvault`` by default), as installed."""
    script = Path(sys.executable).with_name(name)
    assert script.exists(), f"{script} is missing: install the project (make install)"
    return str(script)


def stack_env(database_url: str, redis_url: str, prefix: str, api_port: int) -> dict[str, str]:
    """Return the environment of a private ``tickvault up`` stack: its own database, Redis
    prefix and API port, metrics ports off (a developer's ``make demo`` may hold them)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    return clean | {
        "TICKVAULT_DATABASE_URL": database_url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": prefix,
        "TICKVAULT_API_BIND": f"127.0.0.1:{api_port}",
        "TICKVAULT_SYMBOLS": "BTCUSDT,ETHUSDT",
        "TICKVAULT_COLLECTOR_METRICS_PORT": "0",
        "TICKVAULT_WRITER_METRICS_PORT": "0",
        "NO_COLOR": "1",
    }


def terminate(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a running command as an orchestrator does: SIGTERM, then SIGKILL after *timeout*."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_tickvault(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 90, program: str = "tickvault"
) -> subprocess.CompletedProcess[str]:
    """Run ``tickvault ARGS`` (or another *program* of the project) with no TICKVAULT_
    variable but those in *env*; capture its output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    return subprocess.run(
        [tickvault_script(program), *args],
        env=clean | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
