"""Run the installed ``tickvault`` command as an operator would, in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tickvault_script() -> str:
    """Return the ``tickvault`` console script installed next to this interpreter."""
    script = Path(sys.executable).with_name("tickvault")
    assert script.exists(), f"{script} is missing: install the project (make install)"
    return str(script)


def run_tickvault(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run ``tickvault ARGS`` with no TICKVAULT_ variable but those in *env*; capture output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKVAULT_")}
    return subprocess.run(
        [tickvault_script(), *args],
        env=clean | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
