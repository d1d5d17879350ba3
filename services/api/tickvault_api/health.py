"""Liveness and readiness: ``/healthz`` and ``/readyz`` (documented in ``/openapi.json``)."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from tickvault_api import schemas
from tickvault_api.deps import ApiDeps
from tickvault_api.errors import envelope
from tickvault_api.responses import json_response
from tickvault_api.standby import lag_problem


def make_blueprint(deps: ApiDeps) -> Blueprint:
    """Return the blueprint of ``/healthz`` and ``/readyz``."""
    blp = Blueprint("health", __name__, description="Liveness and readiness")

    @blp.route("/healthz")
    @blp.response(200, schemas.HealthBody)
    def healthz() -> Response:
        """Liveness: the process answers."""
        return json_response({"status": "ok"})

    @blp.route("/readyz")
    @blp.response(200, schemas.HealthBody)
    @blp.alt_response(503, schema=schemas.ErrorBody)
    def readyz() -> Response:
        """Readiness: Redis and PostgreSQL both answer. With collectors running, ``repair``
        says how many REST calls their open gaps still need and how old the oldest is;
        ``replica`` (when the API reads from a standby) says how far behind it is; a standby
        more than ``TICKVAULT_API_REPLICA_MAX_LAG_SECONDS`` behind is not ready (and the
        answers that come from PostgreSQL are refused meanwhile, with the same reason)."""
        status = deps.stores.ping()
        down = [name for name, ok in status.items() if not ok]
        if down:
            message = f"not ready: {' and '.join(down)} cannot be reached"
            return json_response(envelope("unavailable", message), 503)
        body: dict[str, object] = {"status": "ready", **status}
        state = deps.standby.measure()
        if state is not None and state.standby:
            body["replica"] = {"standby": True, "lag_seconds": state.lag_seconds}
            problem = lag_problem(state, deps.standby.limit_s)
            if problem is not None:
                return json_response(envelope("unavailable", f"not ready: {problem}"), 503)
        backlog = deps.stores.repair_backlog()
        if backlog is not None:
            body["repair"] = backlog
        return json_response(body)

    return blp
