"""Run child processes in the foreground: prefixed combined logs, restarts, clean stop.

A child that exits while we are not stopping is reported and started again after a capped
exponential backoff (a :class:`~tickvault.retry.RetryPolicy` without jitter, reset once it has
run for a while). Exit status 2 means bad
configuration: restarting cannot help, so everything stops and ``tickvault up`` exits 2.
Stopping sends SIGTERM to every child, waits a bounded time, then SIGKILLs what is left
(with its whole process group, so Gunicorn's workers go too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from tickvault.cli.up_plan import ServiceSpec
from tickvault.retry import Backoff, RetryPolicy

BAD_CONFIG = 2
_COLORS = ("36", "33", "35", "32", "34", "91", "96", "93")
_LINE_LIMIT = 1 << 20


def restart_backoff(initial: float = 1.0, cap: float = 30.0) -> Backoff:
    """Return the waits before successive restarts: 1, 2, 4 ... seconds, capped, no jitter
    (one child restarting: nothing to spread out, and the wait it prints is the wait)."""
    return RetryPolicy(initial, cap, jitter=0.0).backoff()


def describe_exit(status: int) -> str:
    """Return a person's wording of a child's return code."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    if status == BAD_CONFIG:
        return "exited with status 2 (bad configuration)"
    return f"exited with status {status}"


@dataclass
class Output:
    """Writes lines prefixed with the service name, coloured on a terminal."""

    stream: TextIO
    width: int = 9
    color: bool = False
    _codes: dict[str, str] = field(default_factory=dict)

    def line(self, name: str, text: str) -> None:
        """Write one line of *name*'s output."""
        label = name.ljust(self.width)
        if self.color:
            code = self._codes.setdefault(name, _COLORS[len(self._codes) % len(_COLORS)])
            label = f"\x1b[{code}m{label}\x1b[0m"
        self.stream.write(f"{label} | {text}\n")
        self.stream.flush()


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    # Linux only: the child gets SIGTERM if `tickvault up` itself is killed outright.
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Supervisor:
    """Keeps a set of child processes running until asked to stop."""

    def __init__(
        self,
        output: Output,
        env: Mapping[str, str],
        *,
        stop_timeout: float = 15.0,
        backoff_initial: float = 1.0,
        backoff_cap: float = 30.0,
        stable_after: float = 30.0,
    ) -> None:
        self.output = output
        self.env = dict(env)
        self.stop_timeout = stop_timeout
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.stable_after = stable_after
        self.status = 0
        self.stopping = asyncio.Event()
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._force = False

    def say(self, text: str) -> None:
        """Write one line of the supervisor's own."""
        self.output.line("up", text)

    def add(self, spec: ServiceSpec) -> None:
        """Start *spec* now and keep it running."""
        self._tasks.append(asyncio.create_task(self._keep(spec), name=spec.name))

    def running(self, name: str) -> bool:
        """Return whether the child called *name* is alive right now."""
        proc = self._procs.get(name)
        return proc is not None and proc.returncode is None

    def request_stop(self, reason: str, status: int = 0) -> None:
        """Begin stopping every child; a second request while stopping kills at once."""
        if self.stopping.is_set():
            if not self._force:
                self._force = True
                self.say("stopping now (SIGKILL)")
                self._kill_all()
            return
        self.status = self.status or status
        self.say(f"{reason}; stopping every service (Ctrl-C again to kill at once)")
        self.stopping.set()
        for proc in self._procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    async def wait(self) -> int:
        """Wait until stopped and every child has exited; return the exit status."""
        await self.stopping.wait()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.stop_timeout)
            if pending:
                names = ", ".join(sorted(t.get_name() for t in pending))
                self.say(f"{names} did not stop within {self.stop_timeout:g} s; killing")
                self._kill_all()
                await asyncio.wait(pending, timeout=5)
        return self.status

    def _kill_all(self) -> None:
        for proc in self._procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

    async def _keep(self, spec: ServiceSpec) -> None:
        failures = 0
        backoff = restart_backoff(self.backoff_initial, self.backoff_cap)
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                status = await self._run_once(spec)
            except OSError as exc:
                self.say(f"{spec.name} cannot start: {exc}")
                status = 127
            if self.stopping.is_set():
                return
            ran = time.monotonic() - started
            if status == BAD_CONFIG:
                self.request_stop(f"{spec.name} {describe_exit(status)}", BAD_CONFIG)
                return
            if ran >= self.stable_after:
                failures = 0
                backoff.reset()
            failures += 1
            delay = backoff.next()
            self.say(
                f"{spec.name} {describe_exit(status)} after {ran:.1f} s; "
                f"restarting in {delay:g} s (restart {failures})"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)

    async def _run_once(self, spec: ServiceSpec) -> int:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=spec.environ(self.env),
            start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
            preexec_fn=_die_with_parent,
            limit=_LINE_LIMIT,
        )
        self._procs[spec.name] = proc
        if self.stopping.is_set():  # the stop came while this child was being started
            proc.send_signal(signal.SIGTERM)
        assert proc.stdout is not None
        await self._pump(spec.name, proc.stdout)
        return await proc.wait()

    async def _pump(self, name: str, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raw = await reader.read(_LINE_LIMIT)
            if not raw:
                return
            self.output.line(name, raw.decode("utf-8", "replace").rstrip("\r\n"))
