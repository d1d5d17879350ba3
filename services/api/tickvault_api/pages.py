"""Pages outside the JSON API: ``/metrics`` (Prometheus), ``/docs``, the dashboard at ``/``
and its icon."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from tickvault_api.deps import ApiDeps


def make_blueprint(deps: ApiDeps) -> Blueprint:
    """Return the blueprint of ``/metrics``, ``/docs``, the dashboard at ``/`` and its icon."""
    bp = Blueprint("pages", __name__)

    @bp.route("/metrics")
    def metrics() -> Response:
        return Response(deps.metrics.exposition(), mimetype=deps.metrics.content_type)

    @bp.route("/docs")
    def docs() -> Response:
        return current_app.send_static_file("docs.html")

    @bp.route("/")
    def dashboard() -> Response:
        return current_app.send_static_file("dashboard.html")

    @bp.route("/favicon.ico")
    def favicon() -> Response:
        return current_app.send_static_file("favicon.svg")

    return bp
