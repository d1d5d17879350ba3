"""What ``tickvault up`` plans to run, decided without starting anything."""

from __future__ import annotations

import io
import logging
import signal
from typing import Any

import pytest

from tickvault.cli import build_parser
from tickvault.cli.up_plan import UpOptions, UpSettings, browse_url, build_plan, demo_overrides
from tickvault.cli.up_supervisor import Output, describe_exit, restart_backoff

PY = "/venv/bin/python"


def settings(**values: Any) -> UpSettings:
    return UpSettings(_env_file=None, **values)  # type: ignore[call-arg]


def env_of(plan_service: Any) -> dict[str, str]:
    return dict(plan_service.env)


def test_live_run_starts_collector_writer_and_api_with_the_users_settings() -> None:
    plan = build_plan(settings(), UpOptions(), {}, python=PY)
    assert plan.replay is None
    assert [s.name for s in plan.services] == ["collector", "writer", "api"]
    assert [s.argv for s in plan.services] == [
        (PY, "-m", "tickvault_collector"),
        (PY, "-m", "tickvault_writer"),
        (PY, "-m", "tickvault_api"),
    ]
    assert all(s.env == () for s in plan.services)
    assert plan.database_url == "postgresql://postgres@127.0.0.1:5432/tickvault"
    assert plan.api_url == "http://127.0.0.1:8000"


def test_demo_uses_its_own_database_and_prefix_and_points_services_at_the_replay() -> None:
    plan = build_plan(settings(), UpOptions(replay=True, seed=7), {}, python=PY, replay_port=9555)
    assert plan.replay is not None
    assert plan.replay.argv == (
        PY,
        "-m",
        "tickvault_replay",
        "--host",
        "127.0.0.1",
        "--port",
        "9555",
        "--synthetic",
        "BTCUSDT,ETHUSDT",
        "--seed",
        "7",
        "--speed",
        "1",
    )
    assert plan.replay_rest_url == "http://127.0.0.1:9555"
    demo_db = "postgresql://postgres@127.0.0.1:5432/tickvault_demo"
    assert plan.database_url == demo_db
    for service in plan.services:
        assert env_of(service) == {
            "TICKVAULT_DATABASE_URL": demo_db,
            "TICKVAULT_API_DATABASE_URL": demo_db,
            "TICKVAULT_REDIS_PREFIX": "tickvault-demo",
            "TICKVAULT_BINANCE_WS_URL": "ws://127.0.0.1:9555",
            "TICKVAULT_BINANCE_REST_URL": "http://127.0.0.1:9555",
        }


def test_a_demo_of_all_symbols_or_a_pattern_replays_a_whole_synthetic_market() -> None:
    for symbols in ("ALL", "*USDT,BTCUSDT"):
        plan = build_plan(
            settings(symbols=symbols), UpOptions(replay=True, seed=3), {}, python=PY, replay_port=1
        )
        assert plan.replay is not None
        assert plan.replay.argv[7:] == ("--synthetic-market", "300", "--seed", "3", "--speed", "1")


def test_demo_keeps_what_the_user_set_and_keeps_old_recordings_forever() -> None:
    mine = "postgresql://me:pw@db.example:5433/mine"
    opts = UpOptions(replay=True, recordings=("/data/a.txt.gz", "/data/b.txt.gz"), speed=20)
    plan = build_plan(
        settings(database_url=mine, redis_prefix="me", symbols="SOLUSDT"), opts, {}, python=PY
    )
    assert plan.database_url == mine
    assert plan.replay is not None
    assert plan.replay.argv[7:] == (
        "--recording",
        "/data/a.txt.gz",
        "--recording",
        "/data/b.txt.gz",
        "--speed",
        "20",
    )
    env = env_of(plan.services[0])
    assert "TICKVAULT_DATABASE_URL" not in env
    assert "TICKVAULT_REDIS_PREFIX" not in env
    assert env["TICKVAULT_RETENTION_HOURS"] == "0"
    assert env["TICKVAULT_CANDLE_RETENTION_DAYS"] == "0"


def test_a_retention_the_user_chose_is_kept_when_replaying_recordings() -> None:
    out = demo_overrides(
        settings(retention_hours=5, candle_retention_days=3),
        UpOptions(replay=True, recordings=("/r.gz",)),
    )
    assert "TICKVAULT_RETENTION_HOURS" not in out
    assert "TICKVAULT_CANDLE_RETENTION_DAYS" not in out


def test_demo_keeps_an_api_database_url_the_user_set() -> None:
    out = demo_overrides(settings(api_database_url="postgresql://ro@h/x"), UpOptions(replay=True))
    # only the database URL was not chosen: the demo database sits on the default server
    assert out["TICKVAULT_DATABASE_URL"].endswith("/tickvault_demo")
    assert "TICKVAULT_API_DATABASE_URL" not in out


def test_several_writers_get_their_own_metrics_ports() -> None:
    plan = build_plan(settings(), UpOptions(writers=3), {}, python=PY)
    writers = [s for s in plan.services if s.name.startswith("writer")]
    assert [w.name for w in writers] == ["writer-1", "writer-2", "writer-3"]
    assert [env_of(w)["TICKVAULT_WRITER_METRICS_PORT"] for w in writers] == ["9102", "9103", "9104"]
    based = build_plan(
        settings(), UpOptions(writers=2), {"TICKVAULT_WRITER_METRICS_PORT": "0"}, python=PY
    )
    assert [env_of(s).get("TICKVAULT_WRITER_METRICS_PORT") for s in based.services] == [
        None,
        "0",
        "0",
        None,
    ]


def test_service_environment_is_layered_on_the_parents() -> None:
    plan = build_plan(settings(), UpOptions(replay=True), {}, python=PY, replay_port=1)
    merged = plan.services[0].environ({"PATH": "/bin", "TICKVAULT_REDIS_PREFIX": "x"})
    assert merged["PATH"] == "/bin"
    assert merged["TICKVAULT_REDIS_PREFIX"] == "tickvault-demo"


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("localhost:9", "http://localhost:9"),
    ],
)
def test_browse_url_is_what_a_person_opens(bind: str, url: str) -> None:
    assert browse_url(bind) == url


def test_restarts_back_off_exponentially_up_to_a_cap() -> None:
    backoff = restart_backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    short = restart_backoff(initial=0.5, cap=1.5)
    assert [short.next() for _ in range(3)] == [0.5, 1, 1.5]
    short.reset()
    assert short.next() == 0.5


def test_exit_statuses_are_worded_for_a_person() -> None:
    assert describe_exit(1) == "exited with status 1"
    assert describe_exit(2) == "exited with status 2 (bad configuration)"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"


def test_output_prefixes_each_line_with_its_service() -> None:
    stream = io.StringIO()
    out = Output(stream, width=9)
    out.line("collector", "connected")
    out.line("api", "listening")
    assert stream.getvalue() == "collector | connected\napi       | listening\n"
    coloured = io.StringIO()
    Output(coloured, width=3, color=True).line("api", "x")
    assert coloured.getvalue() == "\x1b[36mapi\x1b[0m | x\n"


def test_up_parses_its_options() -> None:
    args = build_parser().parse_args(
        ["up", "--recording", "a.gz", "--recording", "b.gz", "--speed", "20", "--writers", "3"]
    )
    assert (args.recording, args.speed, args.writers, args.replay) == (
        ["a.gz", "b.gz"],
        20.0,
        3,
        False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--speed", "-1"],
        ["up", "--speed", "nan"],
        ["up", "--writers", "0"],
        ["up", "--writers", "1.5"],
        ["up", "--replay-port", "70000"],
    ],
)
def test_up_rejects_bad_options_with_status_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2


def test_up_refuses_a_recording_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    # `up` configures logging onto this test's captured stderr: give the handlers back after
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    args = build_parser().parse_args(["up", "--recording", "/no/such/file.gz"])
    assert args.handler(args) == 2
    assert capsys.readouterr().err == "tickvault up: no such recording: /no/such/file.gz\n"


def test_only_a_synthetic_demo_on_its_own_database_and_prefix_starts_afresh() -> None:
    def fresh(options: UpOptions, **values: Any) -> bool:
        return build_plan(settings(**values), options, {}, python=PY, replay_port=1).fresh_demo

    assert fresh(UpOptions(replay=True))
    assert not fresh(UpOptions())
    assert not fresh(UpOptions(replay=True, recordings=("/r.gz",)))
    assert not fresh(UpOptions(replay=True), database_url="postgresql://me@h/mine")
    assert not fresh(UpOptions(replay=True), redis_prefix="mine")
    plan = build_plan(settings(), UpOptions(replay=True), {}, python=PY, replay_port=1)
    assert plan.redis_prefix == "tickvault-demo"
    assert plan.database_url.endswith("/tickvault_demo")
