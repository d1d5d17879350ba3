"""The compose deployment's Redis ACL on a real Redis: each service can do its work, no more.

``deploy/redis/start.sh`` (what the compose ``redis`` service runs) starts a private
``redis-server`` on a free port with the users of ``deploy/redis/users.acl``. Then every
command the collector, the writers and the API send (their scripts included: Redis checks
the commands a script runs against the same user) runs as that service's user, the API
itself answers through its own user from a ``redis://user:password@host`` URL, and what a
user must not do is refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.support.paths import REPO_ROOT

from tickvault.backlog import APPEND, Appended
from tickvault.cli.up import free_port
from tickvault.codec import latest_message, to_fields
from tickvault.config import Settings
from tickvault.keys import WRITER_GROUP, RedisKeys
from tickvault.lease import Lease
from tickvault.logs import mask_secrets
from tickvault.symbols import Status, status_value
from tickvault.tick import Tick
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings
from tickvault_writer.cache import LATEST_SCRIPT

PASSWORDS = {"collector": "c0ll ector/&pw", "writer": "wr1ter-pw", "api": "api:pw@x"}
KEYS = RedisKeys("tickvault")
T0 = 1_723_161_600_000_000
TICK = Tick("BTCUSDT", 7, "61000.01000000", "0.00100000", T0, T0, False, T0)


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private Redis started by deploy/redis/start.sh; yields its port."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is missing: make services installs it")
    workdir = tmp_path_factory.mktemp("redis-acl")
    port = free_port()
    env = {
        **os.environ,
        "REDIS_COLLECTOR_PASSWORD": PASSWORDS["collector"],
        "REDIS_WRITER_PASSWORD": PASSWORDS["writer"],
        "REDIS_API_PASSWORD": PASSWORDS["api"],
        "REDIS_ACL_FILE": str(workdir / "users.acl"),
        "REDIS_DATA_DIR": str(workdir),
    }
    script = REPO_ROOT / "deploy" / "redis" / "start.sh"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--appendonly", "no", "--save", ""]
    log = (workdir / "redis.log").open("wb")
    process = subprocess.Popen(["sh", str(script), *args], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                as_user("api", port).ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None, (workdir / "redis.log").read_text()
                assert time.monotonic() < deadline, "the ACL Redis did not start"
                time.sleep(0.1)
        acl = Path(env["REDIS_ACL_FILE"]).read_text()
        assert all(pw not in acl for pw in PASSWORDS.values())  # only hashes are written
        yield port
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def url(user: str, port: int) -> str:
    from urllib.parse import quote

    return f"redis://{user}:{quote(PASSWORDS[user], safe='')}@127.0.0.1:{port}/0"


def as_user(user: str, port: int) -> redis.Redis:
    return redis.Redis.from_url(url(user, port))


def refused(call: Any) -> bool:
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    except redis.ResponseError as exc:
        return "NOPERM" in str(exc)
    return False


def test_nobody_gets_in_without_a_user_and_its_password(acl_redis: int) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl_redis).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl_redis, username="api", password="wrong").ping()


def append(c: redis.Redis, expected: bytes = b"") -> Appended:
    """Run the collector's append script as it does: one tick, one resume mark."""
    shard = KEYS.shard(0)
    keys = [shard.stream, shard.producer("acl"), shard.lost, shard.last_id("BTCUSDT")]
    fields = [x for kv in to_fields(TICK).items() for x in kv]
    args = [100_000, expected, 60, 1, 7, len(fields), *fields]
    return Appended.from_reply(c.evalsha(c.script_load(APPEND), len(keys), *keys, *args))


def test_the_collector_can_run_its_commands_and_nothing_of_the_others(acl_redis: int) -> None:
    c = as_user("collector", acl_redis)
    first = append(c)
    assert not first.full and first.last_id and not first.damaged
    c.mset({KEYS.collector_last_id("BTCUSDT"): 7})
    assert c.mget([KEYS.collector_last_id("BTCUSDT")]) == [b"7"]
    c.set(KEYS.heartbeat("collector", "a"), b"{}", ex=30)
    assert next(c.scan_iter(match=KEYS.heartbeat_pattern("collector")), None) is not None
    c.delete(KEYS.heartbeat("collector", "a"))
    lease = Lease(c, KEYS.audit_lease, 30)  # tickvault.lease, as the auditor holds it
    assert lease.acquire() and lease.renew() and lease.hold(5) and lease.release()
    c.hset(KEYS.symbols, "BTCUSDT", status_value(Status.TRADING, T0))
    assert c.hgetall(KEYS.symbols) and c.hdel(KEYS.symbols, "BTCUSDT") == 1
    c.time()
    assert c.xrange(KEYS.stream, count=1)
    assert not refused(lambda: c.xinfo_groups(KEYS.stream))
    for forbidden in (
        lambda: c.hset(KEYS.latest("BTCUSDT"), "price", "1"),
        lambda: c.publish(KEYS.latest_channel, b"x"),
        lambda: c.xreadgroup(WRITER_GROUP, "w", {KEYS.stream: ">"}),
        lambda: c.set(KEYS.maintenance_lease, "x"),
        lambda: c.flushall(),
        lambda: c.config_get("*"),
    ):
        assert refused(forbidden)


def test_the_writer_can_run_its_commands_and_nothing_of_the_others(acl_redis: int) -> None:
    w = as_user("writer", acl_redis)
    collector = as_user("collector", acl_redis)
    last = append(collector).last_id
    try:
        w.xgroup_create(KEYS.stream, WRITER_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        assert "BUSYGROUP" in str(exc)
    entries = w.xreadgroup(WRITER_GROUP, "w1", {KEYS.stream: ">"}, count=10)
    ids = [entry_id for entry_id, _ in entries[0][1]]
    w.xautoclaim(KEYS.stream, WRITER_GROUP, "w1", 0, start_id="0-0", count=10)
    pipe = w.pipeline(transaction=True)
    pipe.xadd(KEYS.dead_letter, {b"reason": b"test"})
    pipe.incrby(KEYS.shard(0).lost, 1)  # an entry found deleted while pending
    pipe.xack(KEYS.stream, WRITER_GROUP, *ids)
    pipe.execute()
    w.xinfo_groups(KEYS.stream)
    # The collector's next append reads the group (XINFO, XPENDING), trims and takes the count.
    report = append(collector, last)
    assert report.lost_entries == 1 and not report.gone and report.safe is not None
    latest = w.register_script(LATEST_SCRIPT)
    args = [KEYS.latest_channel, "7", latest_message(TICK), "trade_id", "7", "price", TICK.price]
    assert latest(keys=[KEYS.latest("XRPUSDT")], args=args) == 1
    w.set(KEYS.heartbeat("writer", "w1"), b"{}", px=30_000)
    assert w.exists(KEYS.heartbeat("writer", "w1"))
    lease = Lease(w, KEYS.maintenance_lease, 30)  # tickvault.lease, as maintenance holds it
    assert lease.acquire() and lease.renew() and lease.hold(5) and lease.release()
    for forbidden in (
        lambda: w.hset(KEYS.symbols, "X", "1"),
        lambda: w.set(KEYS.collector_last_id("BTCUSDT"), 1),
        lambda: w.publish("elsewhere", b"x"),
        lambda: w.keys("*"),
        lambda: w.flushall(),
    ):
        assert refused(forbidden)


def test_the_api_answers_through_its_read_only_user(acl_redis: int) -> None:
    writer = as_user("writer", acl_redis)
    latest = writer.register_script(LATEST_SCRIPT)
    fields = ["trade_id", "7", "price", TICK.price, "quantity", TICK.quantity]
    fields += ["trade_time", str(T0), "event_time", str(T0), "is_buyer_maker", "0"]
    latest(
        keys=[KEYS.latest("BTCUSDT")],
        args=[KEYS.latest_channel, "7", latest_message(TICK), *fields],
    )
    as_user("collector", acl_redis).hset(KEYS.symbols, "BTCUSDT", status_value(Status.TRADING, T0))
    settings = ApiSettings(_env_file=None, redis_url=url("api", acl_redis), symbols="ALL")  # type: ignore[call-arg]
    app = create_app(settings)
    client = app.test_client()
    body = client.get("/api/v1/prices/BTCUSDT/latest").get_json()
    assert body["trade_id"] == 7, body
    assert client.get("/api/v1/symbols").get_json()["symbols"][0]["status"] == "TRADING"
    stream = client.get("/api/v1/stream", buffered=False)
    try:
        assert stream.status_code == 200
        assert b'"trade_id":7' in next(iter(stream.response))
    finally:
        stream.close()
    api = as_user("api", acl_redis)
    for forbidden in (
        lambda: api.hset(KEYS.latest("BTCUSDT"), "price", "1"),
        lambda: api.delete(KEYS.latest("BTCUSDT")),
        lambda: api.xadd(KEYS.stream, {b"x": b"1"}),
        lambda: api.publish(KEYS.latest_channel, b"x"),
        lambda: api.get(KEYS.collector_last_id("BTCUSDT")),
        lambda: api.hgetall(KEYS.collector_last_id("BTCUSDT")),
    ):
        assert refused(forbidden)
    app.extensions["tickvault"].hub.stop()
    app.extensions["tickvault"].stores.close()


def test_a_redis_password_in_the_url_never_reaches_a_log_or_settings_dump(acl_redis: int) -> None:
    secret_url = url("api", acl_redis)
    settings = Settings(_env_file=None, redis_url=secret_url)  # type: ignore[call-arg]
    shown = str(settings.safe_dict()) + repr(settings) + mask_secrets(f"connecting {secret_url}")
    assert "api%3Apw%40x" not in shown and PASSWORDS["api"] not in shown
    assert "redis://api:***@127.0.0.1" in shown
