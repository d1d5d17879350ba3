"""deploy/compose.cluster.yml: the Redis Cluster and replicated PostgreSQL topology is a valid
compose file whose every command, flag and variable exists in the code, and whose wiring is
the one docs/SCALING.md describes (checked statically: no Docker engine here)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.support.compose import (
    MissingVariable,
    argv_of,
    environment,
    interpolate,
    load,
    schema_errors,
)
from tests.support.paths import REPO_ROOT

from tickvault.cli import build_parser
from tickvault.config import Settings
from tickvault.db.urls import hosts_of, parse_database_url
from tickvault_api.settings import ApiSettings
from tickvault_collector.settings import CollectorSettings
from tickvault_writer.settings import WriterSettings

DEPLOY = REPO_ROOT / "deploy"
FILE = DEPLOY / "compose.cluster.yml"
COMPOSE = load(FILE)
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = {n: s for n, s in SERVICES.items() if s.get("image") == "tickvault:latest"}
REDIS_NODES = sorted(n for n in SERVICES if re.fullmatch(r"redis-\d+", n))
SECRETS = ("POSTGRES_PASSWORD", "API_DB_PASSWORD", "REPLICATION_PASSWORD", "REDIS_PASSWORD")
ENV = {name: f"s3cret-{name.lower()}" for name in SECRETS}
SETTINGS_OF = {
    "tickvault": Settings,
    "tickvault-collector": CollectorSettings,
    "tickvault-writer": WriterSettings,
    "tickvault-api": ApiSettings,
}


def settings_of(name: str) -> Settings:
    svc = OURS[name]
    cls = SETTINGS_OF[argv_of(svc["command"])[0]]
    values = {k.removeprefix("TICKVAULT_").lower(): v for k, v in environment(svc, ENV).items()}
    return cls(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_cluster_file_follows_the_compose_specification() -> None:
    assert schema_errors(COMPOSE) == []


def test_every_command_is_a_console_script_and_every_variable_a_valid_setting() -> None:
    known = {f"TICKVAULT_{f.upper()}" for cls in SETTINGS_OF.values() for f in cls.model_fields}
    assert set(re.findall(r"TICKVAULT_[A-Z0-9_]+", FILE.read_text())) - known == set()
    for name, svc in OURS.items():
        argv = argv_of(svc["command"])
        assert argv[0] in SETTINGS_OF, f"{name}: {argv[0]}"
        if argv[0] == "tickvault":
            build_parser().parse_args(argv[1:])
        settings_of(name)  # raises on an invalid value


def test_every_tickvault_service_runs_on_the_cluster_and_both_databases() -> None:
    for name in ("collector", "writer", "api", "migrate"):
        settings = settings_of(name)
        assert settings.redis_cluster and settings.stream_shards == 3
        seed = re.match(r"redis://:[^@]+@([^:/]+):", settings.redis_url)
        assert seed is not None and seed[1] in REDIS_NODES
        writes = parse_database_url(settings.database_url)
        assert [h.split(":")[0] for h in hosts_of(writes)] == ["postgres", "postgres-standby"]
        assert writes.query["target_session_attrs"] == "read-write"
    api = settings_of("api")
    assert isinstance(api, ApiSettings)
    reads = parse_database_url(api.api_db_url)
    assert [h.split(":")[0] for h in hosts_of(reads)] == ["postgres-standby", "postgres"]
    assert reads.query["target_session_attrs"] == "prefer-standby"
    assert reads.username == "tickvault_api"


def test_six_redis_nodes_form_one_cluster_with_a_replica_per_master() -> None:
    assert [f"redis-{i}" for i in range(1, 7)] == REDIS_NODES
    for name in REDIS_NODES:
        command = " ".join(SERVICES[name]["command"])
        assert "--cluster-enabled yes" in command
        assert "--appendonly yes" in command
        assert SERVICES[name]["hostname"] == name
    init = SERVICES["redis-cluster-init"]
    assert init["command"][2:] == REDIS_NODES
    assert set(init["depends_on"]) == set(REDIS_NODES)
    script = (DEPLOY / "redis" / "cluster-init.sh").read_text()
    assert "--cluster create $nodes --cluster-replicas 1 --cluster-yes" in script
    for name in ("collector", "writer", "api"):
        assert SERVICES[name]["depends_on"]["redis-cluster-init"] == {
            "condition": "service_completed_successfully"
        }


def test_the_standby_is_cloned_from_the_primary_and_may_replicate() -> None:
    standby = SERVICES["postgres-standby"]
    assert standby["environment"]["PRIMARY_HOST"] == "postgres"
    script = (DEPLOY / "postgres" / "standby.sh").read_text()
    assert "pg_basebackup" in script and " -R " in script
    primary_init = [v.split(":")[1] for v in SERVICES["postgres"]["volumes"] if ":" in v]
    assert "/docker-entrypoint-initdb.d/20-replication.sh" in primary_init
    assert "REPLICATION" in (DEPLOY / "postgres" / "20-replication.sh").read_text()


@pytest.mark.parametrize("secret", SECRETS)
def test_no_password_has_a_default_or_shows_in_a_command_line(secret: str) -> None:
    without = {k: v for k, v in ENV.items() if k != secret}
    text = FILE.read_text()
    assert re.search(rf"\$\{{{secret}:-", text) is None, f"{secret} has a default"
    with pytest.raises(MissingVariable, match=secret):
        for svc in SERVICES.values():
            environment(svc, without)
    for svc in SERVICES.values():
        command = svc.get("command") or []
        words = command if isinstance(command, list) else [command]
        assert all(secret not in interpolate(str(w), ENV) for w in words)
        assert all(ENV[secret] not in interpolate(str(w), ENV) for w in words)


def test_only_the_proxy_publishes_a_port_and_mounted_files_exist() -> None:
    assert [n for n, s in SERVICES.items() if "ports" in s] == ["proxy"]
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
        for dependency in svc.get("depends_on") or {}:
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
