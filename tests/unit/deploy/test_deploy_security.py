"""Least privilege in the compose deployment, checked on the files (there is no Docker here).

No default password anywhere (compose refuses to start without each, and ``.env.example``
documents it); Redis with one ACL user per service and no default user; ``/metrics`` not
served through the public proxy; Prometheus and Grafana on the host's loopback, Grafana
without anonymous access; containers as non-root users on read-only root filesystems.
``tests/integration/deploy`` runs the Redis ACL on a real Redis.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest
import yaml
from tests.private_servers import redis_acl
from tests.support.paths import REPO_ROOT
from tests.unit.deploy.test_deploy_consistency import SECRETS

from tickvault.keys import MAX_SHARDS, RedisKeys

COMPOSE_TEXT = (REPO_ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
DEPLOY = REPO_ROOT / "deploy"
ENV_EXAMPLE = (REPO_ROOT / ".env.example").read_text()
ACL = (DEPLOY / "redis" / "users.acl").read_text()
NGINX = (DEPLOY / "nginx" / "nginx.conf").read_text()
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(:-|:\?|-|\?)?([^}]*)\}")
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN")
# What redis-py's cluster client sends to find and follow the slots (a single Redis refuses it).
CLUSTER_ROUTING = {"+cluster|slots", "+command", "+asking"}

# Images whose default user is not root (checked against their documentation when pinned).
NON_ROOT_IMAGES = {
    "tickvault:latest": "the Dockerfile's USER tickvault",
    "nginxinc/nginx-unprivileged:1.27-alpine": "uid 101",
    "prom/prometheus:v2.55.1": "nobody",
    "grafana/grafana:11.3.0": "uid 472",
}
# Services that start as root on purpose, and why (the only ones allowed to).
ROOT_ENTRYPOINTS = {
    "postgres": "the entrypoint owns the data volume as root, then runs the server as postgres",
}


def default_image(image: str) -> str:
    """Return the image a service runs unless a variable names another (``${X:-image}``)."""
    named = VARIABLE.fullmatch(image)
    return named[3] if named and named[2] == ":-" else image


def variables() -> list[tuple[str, str, str]]:
    return [(m[1], m[2] or "", m[3]) for m in VARIABLE.finditer(COMPOSE_TEXT)]


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}


def acl_users() -> dict[str, list[str]]:
    return redis_acl.acl_users(cluster=False)


def test_no_password_has_a_default_and_compose_refuses_to_start_without_it() -> None:
    secrets = [(name, op) for name, op, _ in variables() if SECRET.search(name)]
    assert {name for name, _ in secrets} == set(SECRETS)  # the ones .env must provide
    assert all(op == ":?" for _, op in secrets), secrets
    for script in ("postgres/10-api-role.sh", "redis/start.sh"):
        text = (DEPLOY / script).read_text()
        assert not re.search(r"PASSWORD:?-", text), f"{script} gives a password a default"
        assert re.search(r"PASSWORD:\?", text), f"{script} does not require its password"


def test_env_example_documents_every_variable_and_ships_no_password() -> None:
    documented = env_example()
    # TICKVAULT_* variables are the README's configuration table (test_deploy_docs.py)
    used = {name for name, _, _ in variables() if not name.startswith("TICKVAULT_")}
    assert used - set(documented) == set(), "variables docker-compose.yml reads but no doc"
    for name, value in documented.items():
        if SECRET.search(name):
            assert value == "", f".env.example ships a value for {name}"
            assert "# REQUIRED" in ENV_EXAMPLE.split(f"\n{name}=")[0].rsplit("\n\n", 1)[-1]


def test_redis_has_no_default_user_and_one_user_per_service() -> None:
    assert "user default off" in ACL
    users = acl_users()
    assert set(users) == {"default", "collector", "writer", "api"}
    for name, service in (("collector", "collector"), ("writer", "writer"), ("api", "api")):
        url = SERVICES[service]["environment"]["TICKVAULT_REDIS_URL"]
        assert url.startswith(f"redis://{name}:${{REDIS_{name.upper()}_PASSWORD:?"), url
        rules = users[name]
        assert rules[0] == "on" and rules[1].startswith("#@"), "a password hash, never clear"
        assert "-@all" in rules and "resetchannels" in rules
        assert not {"+@all", "allkeys", "allchannels", "~*", "&*", "nopass"} & set(rules)
    for service in ("migrate", "replay"):
        assert "TICKVAULT_REDIS_URL" not in (SERVICES[service].get("environment") or {})


def test_the_api_user_may_only_read_latest_prices_and_symbols_and_subscribe() -> None:
    rules = acl_users()["api"]
    keys = {r for r in rules if "~" in r}
    assert keys == {"%R~@PREFIX@:latest:*", "%R~@PREFIX@:symbols"}  # read-only key access
    assert {r for r in rules if r.startswith("&")} == {"&@PREFIX@:prices"}
    assert {r for r in rules if r.startswith("+")} == {
        "+ping",
        "+hgetall",
        "+exists",
        "+subscribe",
        "+unsubscribe",
        *CLUSTER_ROUTING,
    }


def test_the_collector_and_writers_reach_only_their_own_keys() -> None:
    users = acl_users()
    collector = {r for r in users["collector"] if "~" in r or r.startswith("&")}
    writer = {r for r in users["writer"] if "~" in r or r.startswith("&")}
    assert "~@PREFIX@:ticks" in collector and "~@PREFIX@:ticks" in writer
    assert not any("latest" in r or r.startswith("&") for r in collector)  # no prices, no publish
    assert not any("collector" in r or "symbols" in r for r in writer)
    assert "+publish" not in users["collector"] and "+publish" in users["writer"]
    assert "+xreadgroup" not in users["collector"] and "+xreadgroup" in users["writer"]
    for name in ("collector", "writer", "api"):  # what a cluster client routes with, no more
        assert set(users[name]) >= CLUSTER_ROUTING
        assert {r for r in users[name] if r.startswith("+cluster")} <= CLUSTER_ROUTING


def key_names(keys: RedisKeys) -> dict[str, set[str]]:
    """Return every key name of *keys* by what it is (tickvault.keys: the one place)."""
    shards = keys.all_shards()
    return {
        "stream": {s.stream for s in shards},
        "dead letters": {s.dead_letter for s in shards},
        "lost counter": {s.lost for s in shards},
        "resume mark": {s.last_id("BTCUSDT") for s in shards}
        | {s.last_id("1000SATSFDUSD") for s in shards},
        "producer": {s.producer("vm-1:collector") for s in shards},
        "latest": {keys.latest("BTCUSDT")},
        "symbols": {keys.symbols},
        "collector heartbeat": {keys.heartbeat("collector", "vm-1")},
        "writer heartbeat": {keys.heartbeat("writer", "vm-1")},
        "audit lease": {keys.audit_lease},
        "maintenance lease": {keys.maintenance_lease},
    }


# The keys each service's code touches (the rest of key_names it must not reach).
KEYS_OF = {
    "collector": {
        "stream",
        "lost counter",
        "resume mark",
        "producer",
        "symbols",
        "collector heartbeat",
        "audit lease",
    },
    "writer": {
        "stream",
        "dead letters",
        "lost counter",
        "latest",
        "writer heartbeat",
        "maintenance lease",
    },
    "api": {"latest", "symbols"},
}


@pytest.mark.parametrize(
    "keys",
    [
        RedisKeys("tickvault"),
        RedisKeys("tickvault", 3),
        RedisKeys("tv", 3, cluster=True),
        RedisKeys("tickvault", 1, cluster=True),
        RedisKeys("tickvault", MAX_SHARDS),
    ],
    ids=["one-redis", "one-redis-3-shards", "cluster-3-shards", "cluster-1-shard", "most-shards"],
)
def test_each_user_reaches_exactly_its_services_keys_however_they_are_sharded(
    keys: RedisKeys,
) -> None:
    """users.acl's patterns, matched as Redis matches them (a glob: ``*``, ``?``, ``[0-9]``;
    braces are plain characters), against the names tickvault.keys gives every key."""
    names = key_names(keys)
    for user, rules in acl_users().items():
        patterns = [r.split("~", 1)[1].replace("@PREFIX@", keys.prefix) for r in rules if "~" in r]
        for what, found in names.items():
            reached = {k for k in found if any(fnmatch.fnmatchcase(k, p) for p in patterns)}
            expected = found if what in KEYS_OF.get(user, set()) else set()
            assert reached == expected, f"{user} and the {what} keys {sorted(found)}"


def test_metrics_are_not_served_through_the_public_proxy() -> None:
    block = re.search(r"location = /metrics \{([^}]*)\}", NGINX)
    assert block and "return 404" in block[1]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    api_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "api")
    assert api_job["dns_sd_configs"][0]["names"] == ["api"]  # scraped inside the network


def test_prometheus_and_grafana_listen_on_loopback_and_grafana_asks_for_a_login() -> None:
    for name in ("prometheus", "grafana"):
        for port in SERVICES[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    grafana = SERVICES["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    published = [n for n, s in SERVICES.items() if s.get("ports")]
    assert sorted(published) == ["grafana", "prometheus", "proxy"]


def test_containers_run_as_non_root_on_read_only_root_filesystems() -> None:
    for name, svc in SERVICES.items():
        assert svc.get("read_only") is True, f"{name}'s root filesystem is writable"
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        user = str(svc.get("user", ""))
        if name in ROOT_ENTRYPOINTS:
            continue
        assert user not in ("root", "0", "0:0"), f"{name} runs as root"
        image = default_image(svc["image"])
        assert user or image in NON_ROOT_IMAGES, f"{name}: which user does it run as?"
        assert svc.get("cap_drop") == ["ALL"], f"{name} keeps Linux capabilities"
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER tickvault$", dockerfile, re.M)
