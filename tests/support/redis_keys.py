"""Redis key prefixes of a test's own, and their clean-up (tests share one Redis)."""

from __future__ import annotations

import uuid

import redis


def new_prefix() -> str:
    """Return a key prefix no other test or run uses."""
    return f"tvtest:{uuid.uuid4().hex[:12]}"


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under *prefix*."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
