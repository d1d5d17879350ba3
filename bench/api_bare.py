"""The baseline of bench/api_latency.py: a bare Flask + Redis "latest price" endpoint."""

from __future__ import annotations

import json
import os

import redis
from flask import Flask, Response


def create() -> Flask:
    """Return the bare app (one Redis HGETALL and a JSON body, nothing else)."""
    app = Flask(__name__)
    client = redis.Redis.from_url(os.environ.get("TICKVAULT_REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = os.environ.get("TICKVAULT_REDIS_PREFIX", "tickvault")

    @app.route("/latest/<symbol>")
    def latest(symbol: str) -> Response:
        fields = client.hgetall(f"{prefix}:latest:{symbol.upper()}")
        body = {k.decode(): v.decode() for k, v in fields.items()}
        return Response(json.dumps(body), mimetype="application/json")

    return app
