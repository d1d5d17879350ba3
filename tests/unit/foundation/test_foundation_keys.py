"""Redis names: every key lives under the deployment's prefix, with the documented names."""

from __future__ import annotations

from tickvault.keys import WRITER_GROUP, RedisKeys


def test_default_names() -> None:
    keys = RedisKeys()
    assert (keys.stream, keys.dead_letter, keys.latest_channel) == (
        "tickvault:ticks",
        "tickvault:ticks:dead",
        "tickvault:prices",
    )
    assert keys.latest("BTCUSDT") == "tickvault:latest:BTCUSDT"
    assert keys.heartbeat("writer", "w1") == "tickvault:heartbeat:writer:w1"
    assert keys.heartbeat_pattern("writer") == "tickvault:heartbeat:writer:*"
    assert keys.collector_last_id("ETHUSDT") == "tickvault:collector:last_id:ETHUSDT"
    assert keys.maintenance_lease == "tickvault:lease:maintenance"
    assert keys.audit_lease == "tickvault:lease:audit"
    assert WRITER_GROUP == "tickvault-writers"


def test_every_name_is_under_the_prefix() -> None:
    keys = RedisKeys("tvtest:abc")
    names = [
        keys.stream,
        keys.dead_letter,
        keys.latest_channel,
        keys.latest("BTCUSDT"),
        keys.heartbeat("api", "1"),
        keys.heartbeat_pattern("api"),
        keys.collector_last_id("BTCUSDT"),
        keys.maintenance_lease,
        keys.audit_lease,
    ]
    assert all(name.startswith("tvtest:abc:") for name in names)
    assert len(set(names)) == len(names)
