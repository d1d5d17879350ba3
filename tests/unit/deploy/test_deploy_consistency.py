"""Every command, flag, port, variable and metric the deployment files use exists in the code.

docker-compose.yml, the Dockerfile, deploy/ (nginx, Prometheus, Grafana, demo.env) name
console scripts, their flags, ``TICKVAULT_*`` variables and ports; a rename in the code must
fail here rather than in someone's ``docker compose up``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import shlex
import tomllib
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from tests.support.paths import REPO_ROOT

from tickvault.cli import build_parser
from tickvault.config import Settings
from tickvault_api.metrics import ApiMetrics
from tickvault_api.settings import ApiSettings
from tickvault_collector.metrics import make_metrics
from tickvault_collector.settings import CollectorSettings
from tickvault_writer.metrics import WriterMetrics
from tickvault_writer.settings import WriterSettings

COMPOSE: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
DEPLOY = REPO_ROOT / "deploy"
SCRIPTS: dict[str, str] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
    "scripts"
]
SETTINGS_OF = {
    "tickvault": Settings,
    "tickvault-collector": CollectorSettings,
    "tickvault-writer": WriterSettings,
    "tickvault-api": ApiSettings,
}
SERVICES = COMPOSE["services"]
OURS = {name: svc for name, svc in SERVICES.items() if svc.get("image") == "tickvault:latest"}
INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::-(?P<default>[^}]*)|:\?(?P<required>[^}]*))?\}"
)
# What a user puts in .env for the variables compose requires (it has no defaults for them).
SECRETS = {
    name: f"test-{name.lower()}"
    for name in (
        "POSTGRES_PASSWORD",
        "API_DB_PASSWORD",
        "REDIS_COLLECTOR_PASSWORD",
        "REDIS_WRITER_PASSWORD",
        "REDIS_API_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    )
}


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Resolve ``${VAR:-default}`` and ``${VAR:?error}`` as compose does, from *env*."""
    env = {**SECRETS, **(env or {})}

    def resolve(m: re.Match[str]) -> str:
        if m["required"] is not None and m["name"] not in env:
            raise AssertionError(f"compose would refuse to start: {m['required']}")
        return env.get(m["name"], m["default"] or "")

    return INTERPOLATION.sub(resolve, value)


def argv_of(command: list[str] | str) -> list[str]:
    """Return the tickvault argv of a command, looking inside ``sh -c '...'``."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] in (["sh", "-c"], ["CMD", "sh"]):
        words = shlex.split(words[-1])
    words = [w for w in words if w != "CMD"]
    start = next(i for i, w in enumerate(words) if w.split("=")[-1].startswith("tickvault"))
    return [interpolate(w) for w in words[start:] if w != "exec"]


def help_of(script: str) -> str:
    """Return the ``--help`` text of a console script, run in-process."""
    module, _, func = SCRIPTS[script].partition(":")
    entry = getattr(importlib.import_module(module), func)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        entry(["--help"])
    assert exc.value.code == 0
    return out.getvalue()


def commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, svc in OURS.items():
        found.append((f"{name}.command", argv_of(svc["command"])))
        if "healthcheck" in svc and "tickvault" in " ".join(svc["healthcheck"]["test"]):
            found.append((f"{name}.healthcheck", argv_of(svc["healthcheck"]["test"])))
    return found


def environment(svc: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    return {k: interpolate(str(v), env) for k, v in (svc.get("environment") or {}).items()}


@pytest.mark.parametrize(("where", "argv"), commands(), ids=lambda v: str(v)[:40])
def test_every_command_is_a_console_script_with_those_flags(where: str, argv: list[str]) -> None:
    script, args = argv[0], argv[1:]
    assert script in SCRIPTS, f"{where}: {script} is not a console script in pyproject.toml"
    if script == "tickvault":
        build_parser().parse_args(args)  # raises SystemExit on an unknown subcommand or flag
        return
    text = help_of(script)
    for flag in (a for a in args if a.startswith("--")):
        assert re.search(rf"{re.escape(flag)}\b", text), f"{where}: {script} has no {flag}"
    if script == "tickvault-replay":
        replay_main = importlib.import_module("tickvault_replay.__main__")
        replay_main.config_from_args(replay_main.build_parser().parse_args(args))


def test_every_tickvault_variable_is_a_setting_and_every_value_is_valid() -> None:
    known = {
        f"TICKVAULT_{field.upper()}" for cls in SETTINGS_OF.values() for field in cls.model_fields
    }
    used: set[str] = set()
    for text in (
        (REPO_ROOT / "docker-compose.yml").read_text(),
        DOCKERFILE,
        (DEPLOY / "demo.env").read_text(),
    ):
        used |= set(re.findall(r"TICKVAULT_[A-Z0-9_]+", text))
    assert used - known == set()
    demo = dict(
        line.split("=", 1)
        for line in (DEPLOY / "demo.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for svc in OURS.values():
        script = argv_of(svc["command"])[0]
        cls = SETTINGS_OF.get(script, Settings)
        for env in ({}, demo):
            cls(_env_file=None, **lower(environment(svc, env)))  # type: ignore[call-arg]


def test_ports_agree_between_services_proxy_and_prometheus() -> None:
    api_env = environment(SERVICES["api"])
    api_port = int(api_env["TICKVAULT_API_BIND"].rpartition(":")[2])
    assert f"127.0.0.1:{api_port}/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    nginx = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert f"set $api http://api:{api_port};" in nginx
    listen = int(re.search(r"listen (\d+);", nginx)[1])  # type: ignore[index]
    assert [interpolate(p).split(":")[1] for p in SERVICES["proxy"]["ports"]] == [str(listen)]

    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    scraped = {
        job["job_name"]: (job["dns_sd_configs"][0]["names"], job["dns_sd_configs"][0]["port"])
        for job in prometheus["scrape_configs"]
    }
    collector = CollectorSettings(
        _env_file=None,
        **lower(environment(SERVICES["collector"])),  # type: ignore[call-arg]
    )
    writer = WriterSettings(
        _env_file=None,
        **lower(environment(SERVICES["writer"])),  # type: ignore[call-arg]
    )
    assert scraped == {
        "collector": (["collector"], collector.collector_metrics_port),
        "writer": (["writer"], writer.writer_metrics_port),
        "api": (["api"], api_port),
    }
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", DOCKERFILE, re.M)[0].split()}
    replay = argv_of(SERVICES["replay"]["command"])
    replay_port = int(replay[replay.index("--port") + 1])
    assert exposed == {
        api_port,
        collector.collector_metrics_port,
        writer.writer_metrics_port,
        replay_port,
    }
    demo = (DEPLOY / "demo.env").read_text()
    assert f"TICKVAULT_BINANCE_WS_URL=ws://replay:{replay_port}" in demo
    assert f"TICKVAULT_BINANCE_REST_URL=http://replay:{replay_port}" in demo


def lower(env: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("TICKVAULT_").lower(): v for k, v in env.items()}


def test_scaled_services_publish_no_host_port_and_keep_running() -> None:
    for name in ("collector", "writer", "api"):
        svc = SERVICES[name]
        assert "ports" not in svc, f"{name} publishes a host port: it could not be scaled"
        assert "container_name" not in svc
        assert svc["restart"] == "unless-stopped"
        assert svc["healthcheck"]["test"]
    assert SERVICES["migrate"]["restart"] == "no"
    assert argv_of(SERVICES["migrate"]["command"]) == ["tickvault", "db", "upgrade"]
    for name in ("collector", "writer", "api"):
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    for name, svc in SERVICES.items():
        for dependency in svc.get("depends_on") or {}:
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
    assert "--appendonly yes" in (DEPLOY / "redis" / "start.sh").read_text()
    assert SERVICES["replay"]["profiles"] == ["demo"]
    assert SERVICES["prometheus"]["profiles"] == SERVICES["grafana"]["profiles"] == ["monitoring"]


def test_mounted_files_exist() -> None:
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{name} mounts missing {source}"


def test_the_image_is_slim_non_root_with_dependencies_in_their_own_layer() -> None:
    lines = [ln.strip() for ln in DOCKERFILE.splitlines() if ln.strip() and ln[0] != "#"]
    # The base is an argument (stand-ins where registries cannot be reached), python:3.11-slim
    # unless compose passes another.
    assert lines[:2] == ["ARG PYTHON_IMAGE=python:3.11-slim", "FROM ${PYTHON_IMAGE}"]
    assert COMPOSE["x-tickvault"]["build"]["args"] == {
        "PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim}"
    }
    user = [ln for ln in lines if ln.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    copies = [ln for ln in lines if ln.startswith("COPY ")]
    assert copies[0] == "COPY pyproject.toml ./"
    first_source = lines.index(next(ln for ln in copies if "shared" in ln))
    install_deps = next(i for i, ln in enumerate(lines) if "pip install -r" in ln)
    assert install_deps < first_source


def registered_metrics() -> set[str]:
    names: set[str] = set()
    for registry in (make_metrics().registry, WriterMetrics().registry, ApiMetrics().registry):
        assert isinstance(registry, CollectorRegistry)
        names |= {family.name for family in registry.collect()}
    return names


def test_grafana_dashboard_queries_only_metrics_the_services_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "tickvault.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for e in exprs
        for name in re.findall(r"tickvault_[a-z0-9_]+", e)
    }
    assert used, "the dashboard queries no tickvault metric"
    assert used - registered_metrics() == set()
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {datasource["uid"]}
