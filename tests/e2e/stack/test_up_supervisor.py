"""``tickvault up``'s process keeping, with small Python children standing in for services."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import textwrap
from pathlib import Path

from tickvault.cli.up_plan import ServiceSpec
from tickvault.cli.up_supervisor import Output, Supervisor

BOUND_S = 20.0


def child(name: str, code: str) -> ServiceSpec:
    return ServiceSpec(name, (sys.executable, "-u", "-c", textwrap.dedent(code)))


async def until(condition: object, what: str) -> None:
    """Poll *condition* (a callable) until true, failing after a bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND_S
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


class Rig:
    """A supervisor writing its combined output to a string a test can wait on."""

    def __init__(self, **kw: float) -> None:
        self._out = io.StringIO()
        self.sup = Supervisor(Output(self._out, width=7), os.environ, backoff_initial=0.05, **kw)

    @property
    def text(self) -> str:
        """Return everything written so far."""
        return self._out.getvalue()

    async def logged(self, part: str, what: str, times: int = 1) -> None:
        """Wait until *part* has been written *times* times, failing after a bound."""
        await until(lambda: self.text.count(part) >= times, what)

    async def stop(self, reason: str) -> int:
        """Ask every child to stop for *reason*; return the supervisor's exit status."""
        self.sup.request_stop(reason)
        return await self.sup.wait()


SLEEPER = """
    import signal, sys, time
    def bye(*_):
        print("got SIGTERM, bye")
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    print("ready")
    while True:
        time.sleep(0.05)
"""


def test_children_output_is_combined_with_a_prefix_and_sigterm_stops_them() -> None:
    async def scenario() -> tuple[int, str]:
        rig = Rig()
        rig.sup.add(child("alpha", SLEEPER))
        rig.sup.add(child("beta", SLEEPER))
        await rig.logged("| ready", "both children", times=2)
        return await rig.stop("interrupted"), rig.text

    status, text = asyncio.run(scenario())
    assert status == 0
    lines = text.splitlines()
    assert "alpha   | ready" in lines
    assert "beta    | ready" in lines
    assert "alpha   | got SIGTERM, bye" in lines
    assert "beta    | got SIGTERM, bye" in lines
    assert "up      | interrupted; stopping every service (Ctrl-C again to kill at once)" in lines


def test_a_child_that_dies_is_reported_and_restarted(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    code = f"""
        import pathlib, sys, time
        runs = pathlib.Path({str(marker)!r})
        n = len(runs.read_text()) if runs.exists() else 0
        runs.write_text("x" * (n + 1))
        print(f"run {{n + 1}}")
        if n < 2:
            sys.exit(3)
        while True:
            time.sleep(0.05)
    """

    async def scenario() -> tuple[int, str]:
        rig = Rig()
        rig.sup.add(child("flaky", code))
        await rig.logged("flaky   | run 3", "the third run")
        assert rig.sup.running("flaky")
        return await rig.stop("terminated"), rig.text

    status, text = asyncio.run(scenario())
    assert status == 0
    restarts = [line for line in text.splitlines() if "restarting" in line]
    assert len(restarts) == 2
    assert restarts[0].startswith("up      | flaky exited with status 3 after ")
    assert restarts[0].endswith("s; restarting in 0.05 s (restart 1)")
    assert restarts[1].endswith("s; restarting in 0.1 s (restart 2)")


def test_bad_configuration_stops_everything_with_status_2() -> None:
    message = "tickvault: invalid configuration: TICKVAULT_SYMBOLS: not a Binance symbol"
    bad = f"""
        import sys
        print({message!r}, file=sys.stderr)
        sys.exit(2)
    """

    async def scenario() -> tuple[int, str]:
        rig = Rig()
        rig.sup.add(child("good", SLEEPER))
        await rig.logged("good    | ready", "the good child")
        rig.sup.add(child("bad", bad))
        return await rig.sup.wait(), rig.text

    status, text = asyncio.run(scenario())
    assert status == 2
    lines = text.splitlines()
    assert f"bad     | {message}" in lines
    assert (
        "up      | bad exited with status 2 (bad configuration); stopping every service "
        "(Ctrl-C again to kill at once)" in lines
    )
    assert "good    | got SIGTERM, bye" in lines
    assert not any("restarting" in line for line in lines)


def test_a_child_that_ignores_sigterm_is_killed_after_the_stop_timeout() -> None:
    stubborn = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready")
        while True:
            time.sleep(0.05)
    """

    async def scenario() -> tuple[int, str, float]:
        rig = Rig(stop_timeout=0.5)
        rig.sup.add(child("mule", stubborn))
        await rig.logged("mule    | ready", "the stubborn child")
        loop = asyncio.get_running_loop()
        began = loop.time()
        status = await rig.stop("interrupted")
        return status, rig.text, loop.time() - began

    status, text, took = asyncio.run(scenario())
    assert status == 0
    assert "up      | mule did not stop within 0.5 s; killing" in text.splitlines()
    assert took < 5


def test_a_command_that_cannot_start_is_reported_and_retried() -> None:
    async def scenario() -> str:
        rig = Rig()
        rig.sup.add(ServiceSpec("ghost", ("/nonexistent/tickvault-ghost",)))
        await rig.logged("(restart 2)", "two retries")
        await rig.stop("interrupted")
        return rig.text

    text = asyncio.run(scenario())
    assert "up      | ghost cannot start: [Errno 2] No such file or directory" in text
    assert "ghost exited with status 127" in text
