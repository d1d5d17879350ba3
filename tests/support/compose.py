"""Reading compose files as ``docker compose`` would, for the static deployment checks.

There is no Docker engine on these machines: the Compose Specification's JSON schema (vendored
in tests/unit/deploy) stands in for ``docker compose config``, and :func:`interpolate` resolves
``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` the way compose does.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from tests.support.paths import REPO_ROOT

SCHEMA = REPO_ROOT / "tests" / "unit" / "deploy" / "compose-spec.json"
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


class MissingVariable(KeyError):
    """A ``${VAR:?message}`` whose variable is not set: compose stops with the message."""


def load(path: Path) -> dict[str, Any]:
    """Return the compose file at *path* as data."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Return where *document* breaks the Compose Specification (empty when it follows it)."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator().iter_errors(document)
    ]


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Resolve ``${...}`` in *value* from *env*, as compose does; raise MissingVariable for a
    required variable that *env* lacks."""
    env = env or {}

    def one(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"] or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise MissingVariable(f"{name}: {arg}")
        return arg if op == ":-" else env.get(name, "")

    return INTERPOLATION.sub(one, value)


def argv_of(command: list[str] | str, env: dict[str, str] | None = None) -> list[str]:
    """Return the tickvault argv of a command, looking inside ``sh -c '...'``."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] in (["sh", "-c"], ["CMD", "sh"]):
        words = shlex.split(words[-1])
    words = [w for w in words if w != "CMD"]
    start = next(i for i, w in enumerate(words) if w.split("=")[-1].startswith("tickvault"))
    return [interpolate(w, env) for w in words[start:] if w != "exec"]


def environment(svc: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    """Return a service's environment with its ``${...}`` resolved from *env*."""
    return {k: interpolate(str(v), env) for k, v in (svc.get("environment") or {}).items()}
