"""docker-compose.yml validates against the Compose Specification's JSON schema.

There is no Docker engine on these machines, so the schema stands in for ``docker compose
config``. The schema is vendored beside this file (see COMPOSE_SPEC_SOURCE.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.support.paths import REPO_ROOT

HERE = Path(__file__).resolve().parent
COMPOSE = REPO_ROOT / "docker-compose.yml"


@cache
def validator() -> Any:
    schema = json.loads((HERE / "compose-spec.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator().iter_errors(document)
    ]


def test_compose_file_follows_the_compose_specification() -> None:
    assert errors(load_compose()) == []


def test_the_vendored_schema_is_unchanged_from_its_source() -> None:
    raw = (HERE / "compose-spec.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() in (HERE / "COMPOSE_SPEC_SOURCE.md").read_text()
    schema = json.loads(raw)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Compose Specification"


@pytest.mark.parametrize(
    ("break_it", "complaint"),
    [
        (lambda d: d["services"]["writer"].update(restart_policy="always"), "restart_policy"),
        (lambda d: d["services"]["api"].update(healthcheck={"test": 5}), "healthcheck"),
        (lambda d: d.update(servcies={}), "servcies"),
        (
            lambda d: d["services"]["collector"]["depends_on"]["redis"].update(
                condition="when_ready"
            ),
            "when_ready",
        ),
    ],
)
def test_the_schema_catches_a_broken_compose_file(break_it: Any, complaint: str) -> None:
    broken = copy.deepcopy(load_compose())
    break_it(broken)
    found = errors(broken)
    assert found, "the schema accepted a broken file"
    assert any(complaint in e for e in found), found
