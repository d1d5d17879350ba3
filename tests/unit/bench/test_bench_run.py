"""``make bench`` (bench/run.py) keeps every step that finished when another fails: each
step's figures are on disk before the next starts, the failed step is named with its error,
the steps after it still run, the run exits 1 and ``latest.json`` stays as it was.

The steps are stand-ins (the real ones take half an hour on private servers); what is
tested is the runner around them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.support.paths import REPO_ROOT

PREVIOUS = {
    "steps": {"ingest": {"seconds": 40}, "latency50": {"seconds": 30}, "api": {"seconds": 70}}
}


class NoServer:
    """Stands for the private PostgreSQL and Redis the steps would run on."""

    url = "redis://nowhere"

    def __enter__(self) -> NoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def run() -> Iterator[ModuleType]:
    """bench/run.py as a module (it puts bench/ on sys.path: put sys.path back after)."""
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("bench_run", REPO_ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            del sys.modules[name]


def test_a_failed_step_keeps_what_finished_names_itself_and_exits_1(
    run: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "results"
    out.mkdir()
    latest = out / "latest.json"
    latest.write_text(json.dumps(PREVIOUS))
    seen_on_disk: list[dict[str, Any]] = []

    def port_lost(_: object) -> dict[str, Any]:
        raise RuntimeError("Failed listening on port 52443 (TCP), aborting.")

    def api(_: object) -> dict[str, Any]:
        (dated,) = out.glob("2*.json")
        seen_on_disk.append(json.loads(dated.read_text()))
        return {"api_latest_rps": 4000.0}

    monkeypatch.setattr(run, "PrivatePostgres", NoServer)
    monkeypatch.setattr(run, "PrivateRedis", NoServer)
    monkeypatch.setitem(run.STEP_RUNS, "ingest", lambda _: {"ingest_trades_per_s": 55_000.0})
    monkeypatch.setitem(run.STEP_RUNS, "latency50", port_lost)
    monkeypatch.setitem(run.STEP_RUNS, "api", api)
    skip = ",".join(step for step in run.STEPS if step not in ("ingest", "latency50", "api"))
    monkeypatch.setattr(sys, "argv", ["run.py", "--skip", skip, "--out", str(out)])

    assert run.main() == 1

    (dated,) = out.glob("2*.json")
    kept = json.loads(dated.read_text())
    assert kept["ingest_trades_per_s"] == 55_000.0
    assert kept["api_latest_rps"] == 4000.0  # the step after the failed one still ran
    assert {name: s["status"] for name, s in kept["steps"].items()} == {
        "ingest": "done",
        "latency50": "failed",
        "api": "done",
    }
    assert "52443" in kept["steps"]["latency50"]["error"]
    assert kept["failed_steps"] == ["latency50"]
    assert all(isinstance(s["seconds"], int) for s in kept["steps"].values())
    # Before the api step ran, ingest's figure and latency50's failure were on disk already.
    assert seen_on_disk[0]["ingest_trades_per_s"] == 55_000.0
    assert seen_on_disk[0]["steps"]["latency50"]["status"] == "failed"
    assert json.loads(latest.read_text()) == PREVIOUS
    printed = capsys.readouterr()
    assert "about 2 min" in printed.out  # 40 + 30 + 70 s by the previous run's step times
    assert "latency50   failed" in printed.out and "ingest      done" in printed.out
    assert "FAILED: latency50" in printed.err


def test_the_estimate_scales_the_soak_and_market_to_their_minutes(run: ModuleType) -> None:
    previous = {
        "soak_minutes": 5.0,
        "market_minutes": 5.0,
        "steps": {"soak": {"seconds": 302}, "market": {"seconds": 506}, "api": {"seconds": 76}},
    }
    args = run.argparse.Namespace(soak_minutes=10.0, market_minutes=10.0)
    assert run.estimate_s(previous, args, ["api", "soak", "market"]) == 76 + 602 + 806
    assert run.estimate_s(previous, args, ["api", "cluster"]) is None  # never timed
