"""deploy/compose.cluster.yml: the Redis Cluster and replicated PostgreSQL topology is a valid
compose file whose every command, flag and variable exists in the code, and whose wiring is
the one docs/SCALING.md describes (checked statically: no Docker engine here)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.private_servers import CLUSTER_USERS, SERVICE_USERS, acl_users
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
USERS = {"collector": "collector", "writer": "writer", "api": "api"}  # service: Redis user
SECRETS = (
    "POSTGRES_PASSWORD",
    "API_DB_PASSWORD",
    "REPLICATION_PASSWORD",
    *(f"REDIS_{user.upper()}_PASSWORD" for user in (*SERVICE_USERS, *CLUSTER_USERS)),
)
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
        if name == "replay":  # the demo profile's exchange, as in docker-compose.yml
            assert svc["profiles"] == ["demo"]
            single = load(REPO_ROOT / "docker-compose.yml")["services"]["replay"]
            assert argv == argv_of(single["command"])
            continue
        assert argv[0] in SETTINGS_OF, f"{name}: {argv[0]}"
        if argv[0] == "tickvault":
            build_parser().parse_args(argv[1:])
        settings_of(name)  # raises on an invalid value


def test_every_tickvault_service_runs_on_the_cluster_and_both_databases() -> None:
    for name in ("collector", "writer", "api", "migrate"):
        settings = settings_of(name)
        assert settings.redis_cluster and settings.stream_shards == 3
        writes = parse_database_url(settings.database_url)
        assert [h.split(":")[0] for h in hosts_of(writes)] == ["postgres", "postgres-standby"]
        assert writes.query["target_session_attrs"] == "read-write"
    api = settings_of("api")
    assert isinstance(api, ApiSettings)
    reads = parse_database_url(api.api_db_url)
    assert [h.split(":")[0] for h in hosts_of(reads)] == ["postgres-standby", "postgres"]
    assert reads.query["target_session_attrs"] == "prefer-standby"
    assert reads.username == "tickvault_api"


def test_each_service_logs_in_to_the_cluster_as_its_own_redis_user() -> None:
    for name, user in USERS.items():
        url = OURS[name]["environment"]["TICKVAULT_REDIS_URL"]
        assert url.startswith(f"redis://{user}:${{REDIS_{user.upper()}_PASSWORD:?"), url
        seed = re.fullmatch(r"redis://(\w+):[^@]+}@([^:/]+):6379/0", url)
        assert seed is not None and seed[1] == user and seed[2] in REDIS_NODES
        assert (
            urlsplit(settings_of(name).redis_url).password == ENV[f"REDIS_{user.upper()}_PASSWORD"]
        )
    assert "TICKVAULT_REDIS_URL" not in environment(OURS["migrate"], ENV)  # no Redis at all
    text = FILE.read_text()
    assert "REDIS_PASSWORD" not in text and "requirepass" not in text  # no shared password


def test_every_node_loads_the_deployment_acl_without_a_default_user() -> None:
    for name in REDIS_NODES:
        node = SERVICES[name]
        command = " ".join(node["entrypoint"] + node["command"])
        assert "exec sh /etc/tickvault-redis/start.sh" in command
        assert "./redis:/etc/tickvault-redis:ro" in node["volumes"]
        env = environment(node, ENV)
        assert env["REDIS_CLUSTER"] == "yes"
        assert {k for k in env if k.endswith("_PASSWORD")} == {
            f"REDIS_{u.upper()}_PASSWORD" for u in (*SERVICE_USERS, *CLUSTER_USERS)
        }
        assert "--user api ping" in node["healthcheck"]["test"][1]  # no admin for a ping
        # Hardened like docker-compose.yml's Redis: start.sh writes only to the tmpfs.
        assert node["user"] == "redis" and node["read_only"] is True
        assert node["tmpfs"] == ["/tmp"] and node["cap_drop"] == ["ALL"]
    users = acl_users(cluster=True)
    assert users["default"] == ["off"]
    assert set(users) == {"default", *SERVICE_USERS, *CLUSTER_USERS}
    assert set(acl_users(cluster=False)) == {"default", *SERVICE_USERS}  # no admin on one node
    assert users["admin"][:2] == ["on", "#@ADMIN_PASSWORD_SHA256@"]
    assert users["replication"] == [
        "on",
        "#@REPLICATION_PASSWORD_SHA256@",
        "resetchannels",
        "-@all",
        "+psync",
        "+replconf",
        "+ping",
    ]  # replicates, reads no key
    start = (DEPLOY / "redis" / "start.sh").read_text()
    for line in ("cluster-enabled yes", "masteruser replication", "masterauth %s"):
        assert f"printf '{line}\\n'" in start, line


def test_six_redis_nodes_form_one_cluster_with_a_replica_per_master() -> None:
    assert [f"redis-{i}" for i in range(1, 7)] == REDIS_NODES
    start = (DEPLOY / "redis" / "start.sh").read_text()
    assert "--appendonly yes" in start
    for name in REDIS_NODES:
        assert SERVICES[name]["hostname"] == name
        assert SERVICES[name]["volumes"][0] == f"{name.replace('-', '')}:/data"
    init = SERVICES["redis-cluster-init"]
    assert init["command"][2:] == REDIS_NODES
    assert set(init["depends_on"]) == set(REDIS_NODES)
    assert init["environment"]["REDISCLI_USER"] == "admin"
    assert init["environment"]["REDISCLI_AUTH"].startswith("${REDIS_ADMIN_PASSWORD:?")
    script = (DEPLOY / "redis" / "cluster-init.sh").read_text()
    assert "--cluster create $nodes --cluster-replicas 1 --cluster-yes" in script
    assert "$user --cluster create" in script and "--user $REDISCLI_USER" in script
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
