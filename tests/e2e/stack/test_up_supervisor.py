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


def make(stream: io.StringIO, **kw: float) -> Supervisor:
    return Supervisor(Output(stream, width=7), os.environ, backoff_initial=0.05, **kw)


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
        stream = io.StringIO()
        sup = make(stream)
        sup.add(child("alpha", SLEEPER))
        sup.add(child("beta", SLEEPER))
        await until(lambda: stream.getvalue().count("| ready") == 2, "both children")
        sup.request_stop("interrupted")
        return await sup.wait(), stream.getvalue()

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
        stream = io.StringIO()
        sup = make(stream)
        sup.add(child("flaky", code))
        await until(lambda: "flaky   | run 3" in stream.getvalue(), "the third run")
        assert sup.running("flaky")
        sup.request_stop("terminated")
        return await sup.wait(), stream.getvalue()

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
        stream = io.StringIO()
        sup = make(stream)
        sup.add(child("good", SLEEPER))
        await until(lambda: "good    | ready" in stream.getvalue(), "the good child")
        sup.add(child("bad", bad))
        return await sup.wait(), stream.getvalue()

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
        stream = io.StringIO()
        sup = make(stream, stop_timeout=0.5)
        sup.add(child("mule", stubborn))
        await until(lambda: "mule    | ready" in stream.getvalue(), "the stubborn child")
        loop = asyncio.get_running_loop()
        began = loop.time()
        sup.request_stop("interrupted")
        status = await sup.wait()
        return status, stream.getvalue(), loop.time() - began

    status, text, took = asyncio.run(scenario())
    assert status == 0
    assert "up      | mule did not stop within 0.5 s; killing" in text.splitlines()
    assert took < 5


def test_a_command_that_cannot_start_is_reported_and_retried() -> None:
    async def scenario() -> str:
        stream = io.StringIO()
        sup = make(stream)
        sup.add(ServiceSpec("ghost", ("/nonexistent/tickvault-ghost",)))
        await until(lambda: "(restart 2)" in stream.getvalue(), "two retries")
        sup.request_stop("interrupted")
        await sup.wait()
        return stream.getvalue()

    text = asyncio.run(scenario())
    assert "up      | ghost cannot start: [Errno 2] No such file or directory" in text
    assert "ghost exited with status 127" in text
