"""Run ``tickvault-replay`` as a real subprocess for collector, writer and e2e tests and the
benchmarks. It binds port 0 itself and writes the port it got to ``--port-file``: no race.

with replay_process("--recording", str(BTC_TRADES), "--speed", "0") as replay:
    replay.ws_url, replay.rest_url, replay.stats(), replay.post_faults({...}),
    replay.get("/api/v3/exchangeInfo"), replay.set_symbol("NEWUSDT"), replay.rest_report()
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.polling import wait_until

STARTUP_TIMEOUT_S = 30.0


@dataclass
class ReplayProcess:
    """A running replay exchange on 127.0.0.1:port."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        """Return ``ws://127.0.0.1:PORT``."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        """Return ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def _request(self, method: str, path: str, body: bytes | None = None) -> Any:
        req = urllib.request.Request(
            self.rest_url + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        """Return the parsed ``GET /_replay/stats``."""
        result: dict[str, Any] = self._request("GET", "/_replay/stats")
        return result

    def post_faults(self, script: dict[str, Any] | list[Any]) -> dict[str, Any]:
        """Activate faults (fault-script JSON) through ``POST /_replay/faults``."""
        result: dict[str, Any] = self._request(
            "POST", "/_replay/faults", json.dumps(script).encode()
        )
        return result

    def clear_faults(self) -> None:
        """Deactivate every fault."""
        self._request("DELETE", "/_replay/faults")

    def get(self, path: str, **params: str) -> Any:
        """Return the parsed JSON of ``GET path?params`` (REST or control API)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._request("GET", path + query)

    def set_symbol(self, symbol: str, **fields: Any) -> dict[str, Any]:
        """List *symbol* or change its status (``PUT /_replay/symbols/SYMBOL``)."""
        path = f"/_replay/symbols/{urllib.parse.quote(symbol)}"
        result: dict[str, Any] = self._request("PUT", path, json.dumps(fields).encode())
        return result

    def delist(self, symbol: str) -> dict[str, Any]:
        """Delist *symbol* (``DELETE /_replay/symbols/SYMBOL``)."""
        result: dict[str, Any] = self._request(
            "DELETE", f"/_replay/symbols/{urllib.parse.quote(symbol)}"
        )
        return result

    def rest_report(self) -> dict[str, Any]:
        """Return the REST weight accounting (``GET /_replay/rest``)."""
        result: dict[str, Any] = self._request("GET", "/_replay/rest")
        return result

    def log(self) -> str:
        """Return what the process logged so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def replay_process(*args: str, timeout: float = STARTUP_TIMEOUT_S) -> Iterator[ReplayProcess]:
    """Start ``python -m tickvault_replay --port 0 ARGS...``; yield once it answers."""
    with tempfile.TemporaryDirectory(prefix="tv-replay-") as tmp:
        port_file = Path(tmp) / "port"
        log_path = Path(tmp) / "replay.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tickvault_replay",
                    "--port",
                    "0",
                    "--port-file",
                    str(port_file),
                    *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                replay = _wait_ready(proc, port_file, log_path, timeout)
                yield replay
            finally:
                _stop(proc)


def _wait_ready(
    proc: subprocess.Popen[bytes], port_file: Path, log_path: Path, timeout: float
) -> ReplayProcess:
    def answering() -> ReplayProcess | None:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"tickvault-replay exited {proc.returncode}:\n{log}")
        text = port_file.read_text().strip() if port_file.exists() else ""
        if not text.isdigit():
            return None
        replay = ReplayProcess(int(text), proc, log_path)
        replay.stats()
        return replay

    return wait_until(
        answering,
        timeout,
        "tickvault-replay to answer",
        ignore=(OSError, urllib.error.URLError),
        context=lambda: log_path.read_text(errors="replace"),
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
