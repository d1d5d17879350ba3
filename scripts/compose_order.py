"""Print the order in which scripts/compose.sh starts a compose file's services with an engine
that cannot wait for ``depends_on`` conditions itself (podman-compose before podman 4.6).

    python scripts/compose_order.py FILE [PROFILE...]

One step a line: ``up S...`` starts services whose dependencies are met, ``healthy S...``
waits until their health checks pass, ``exited S`` waits until a one-off service exited 0.
The first line is ``project NAME`` (the file's ``name``). Services of other profiles are
left out, as compose leaves them out.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

WAITS = {"service_healthy": "healthy", "service_completed_successfully": "exited"}


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's dependencies with their conditions (list form: service_started)."""
    declared = service.get("depends_on") or {}
    if isinstance(declared, list):
        return dict.fromkeys(declared, "service_started")
    return {
        name: (spec or {}).get("condition", "service_started") for name, spec in declared.items()
    }


def steps(compose: dict[str, Any], profiles: set[str]) -> list[str]:
    """Return the steps that start every service of *profiles* after what it depends on."""
    services = {
        name: dependencies(svc)
        for name, svc in compose["services"].items()
        if not svc.get("profiles") or profiles & set(svc["profiles"])
    }
    started: set[str] = set()
    out: list[str] = []
    while len(started) < len(services):
        ready = [
            name for name, deps in services.items() if name not in started and set(deps) <= started
        ]
        if not ready:
            sys.exit(f"compose_order: a dependency cycle or a missing service among {services}")
        for wait in ("healthy", "exited"):
            waited = sorted(
                {
                    dep
                    for name in ready
                    for dep, cond in services[name].items()
                    if WAITS.get(cond) == wait
                }
            )
            if waited:
                out.append(f"{wait} {' '.join(waited)}")
        out.append(f"up {' '.join(ready)}")
        started |= set(ready)
    return out


def main(argv: list[str]) -> None:
    compose = yaml.safe_load(Path(argv[0]).read_text())
    sys.stdout.write(f"project {compose.get('name', 'default')}\n")
    sys.stdout.write("".join(f"{step}\n" for step in steps(compose, set(argv[1:]))))


if __name__ == "__main__":
    main(sys.argv[1:])
