"""The tooling of ``make compose-demo`` agrees with the compose files it runs: every image a
file takes from a variable has a stand-in (scripts/build-standins.sh, deploy/standins/),
every password a file requires is one scripts/compose.sh generates when nothing gives it,
and scripts/compose_order.py starts each service only after what it depends on."""

from __future__ import annotations

import re
import runpy
from typing import Any

import pytest
import yaml
from tests.support.paths import REPO_ROOT

FILES = ("docker-compose.yml", "deploy/compose.cluster.yml")
SCRIPTS = REPO_ROOT / "scripts"
ORDER = runpy.run_path(str(SCRIPTS / "compose_order.py"))


def compose_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO_ROOT / name).read_text())
    return loaded


@pytest.mark.parametrize("name", FILES)
def test_every_image_variable_has_a_stand_in(name: str) -> None:
    text = (REPO_ROOT / name).read_text()
    wanted = set(re.findall(r"\$\{([A-Z_]+_IMAGE):-", text))
    assert wanted, name
    script = (SCRIPTS / "build-standins.sh").read_text()
    printed = dict(re.findall(r'^echo "([A-Z_]+_IMAGE)=\$prefix/([a-z]+):', script, re.M))
    assert wanted <= set(printed), f"{name}: no stand-in for {wanted - set(printed)}"
    for kind in printed.values():
        assert (REPO_ROOT / "deploy" / "standins" / kind / "Containerfile").exists(), kind
        assert re.search(rf"^build {kind} ", script, re.M), f"{kind} is never built"


@pytest.mark.parametrize("name", FILES)
def test_every_required_password_is_generated_when_unset(name: str) -> None:
    required = set(re.findall(r"\$\{([A-Z_]*PASSWORD):\?", (REPO_ROOT / name).read_text()))
    listed = re.search(r"PASSWORDS=\(([^)]*)\)", (SCRIPTS / "compose.sh").read_text())
    assert listed
    generated = set(listed[1].split())
    # Grafana's (the monitoring profile) too, though the demo does not start Grafana.
    assert required <= generated, f"{name}: compose.sh never sets {required - generated}"


@pytest.mark.parametrize("name", FILES)
def test_services_start_after_their_dependencies_meet_their_conditions(name: str) -> None:
    compose = compose_of(name)
    steps = [line.split() for line in ORDER["steps"](compose, {"demo"})]
    started: set[str] = set()
    waited: dict[str, set[str]] = {"healthy": set(), "exited": set()}
    for verb, *services in steps:
        if verb in waited:
            assert set(services) <= started, f"waits for {services} before starting them"
            waited[verb] |= set(services)
            continue
        for service in services:
            deps = ORDER["dependencies"](compose["services"][service])
            for dep, condition in deps.items():
                assert dep in started, f"{service} starts before {dep}"
                wait = ORDER["WAITS"].get(condition)
                assert wait is None or dep in waited[wait], f"{service}: {dep} not {wait}"
        started |= set(services)
    in_profile = {
        n for n, s in compose["services"].items() if "demo" in s.get("profiles", ["demo"])
    }
    assert started == in_profile


def test_a_profile_left_out_leaves_its_services_out() -> None:
    steps = ORDER["steps"](compose_of("docker-compose.yml"), set())
    started = {s for line in steps if line.startswith("up ") for s in line.split()[1:]}
    assert "replay" not in started and "grafana" not in started and "proxy" in started
