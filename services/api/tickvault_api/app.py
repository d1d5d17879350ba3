"""The Flask application: ``create_app()`` wires settings, stores and views together."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, request
from flask_smorest import Api
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from tickvault.config import load_settings
from tickvault_api import health, latest, pages, prices, schemas, stream
from tickvault_api.cache import ResultCache
from tickvault_api.cold_reads import ColdReads
from tickvault_api.deps import ApiDeps, wall_clock_us
from tickvault_api.errors import ApiError, TooBusy, Unavailable, envelope
from tickvault_api.hub import PriceHub
from tickvault_api.limits import Slots
from tickvault_api.metrics import ApiMetrics
from tickvault_api.responses import json_response
from tickvault_api.settings import ApiSettings
from tickvault_api.standby import StandbyGate
from tickvault_api.stores import Stores
from tickvault_api.tiered import Tiered
from tickvault_api.tracked import TrackedSymbols

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
_STARTED = "tickvault.started"
STREAM_RETRY_AFTER_S = 5  # Retry-After of a live stream refused at the per-process limit
EXPORT_RETRY_AFTER_S = 30  # Retry-After of a CSV export refused at the per-process limit


class _Api(Api):  # type: ignore[misc]
    """flask-smorest with tickvault's error envelope as the documented error body."""

    ERROR_SCHEMA = schemas.ErrorBody


def create_app(
    settings: ApiSettings | None = None, *, redis: Any = None, db: Engine | None = None
) -> Flask:
    """Create the API application (*redis* and *db* replace the clients made from settings)."""
    settings = settings or load_settings(ApiSettings)
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    # "/prices//latest" names an empty symbol: answer 404, never redirect to "/prices/latest".
    app.url_map.merge_slashes = False
    app.config.update(
        API_TITLE="tickvault",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    stores = Stores(settings, redis_client=redis, engine=db)
    cache = ResultCache(
        entries=settings.api_cache_entries,
        ttl_seconds=settings.api_cache_ttl_seconds,
        grace_seconds=settings.api_cache_grace_seconds,
    )
    deps = make_deps(settings, stores, cache)
    app.extensions["tickvault"] = deps

    api = _Api(app, spec_kwargs={"info": {"description": "Exact Binance trade prices."}})
    api.register_blueprint(latest.make_blueprint(deps))
    api.register_blueprint(prices.make_blueprint(deps))
    api.register_blueprint(stream.make_blueprint(deps))
    api.register_blueprint(health.make_blueprint(deps))
    app.register_blueprint(pages.make_blueprint(deps))
    _register_error_handlers(app, deps)
    _register_metrics(app, deps)
    return app


def make_deps(settings: ApiSettings, stores: Stores, cache: ResultCache) -> ApiDeps:
    """Wire the per-process collaborators: tracked symbols, the price hub and the limits."""
    metrics = ApiMetrics()
    keys = settings.redis_keys
    symbols = TrackedSymbols(
        settings.selection, stores.read_symbols, ttl_seconds=settings.api_symbols_refresh_seconds
    )
    hub = PriceHub(
        lambda: stores.redis,
        keys.latest_channel,
        lambda: stores.read_latest(symbols.current()),
        buffer=settings.api_stream_buffer,
        metrics=metrics,
        clock_us=wall_clock_us,
        interval=settings.api_stream_interval_ms / 1000,
    )
    streams = Slots(
        "live streams",
        settings.api_max_streams,
        retry_after=STREAM_RETRY_AFTER_S,
        refused=metrics.refused.labels("streams"),
    )
    exports = Slots(
        "CSV exports",
        settings.api_max_exports,
        retry_after=EXPORT_RETRY_AFTER_S,
        in_use=metrics.exports,
        refused=metrics.refused.labels("exports"),
    )
    standby = StandbyGate(
        stores.replica,
        settings.api_replica_max_lag_seconds,
        on_measure=lambda state: metrics.replica_lag.set(
            -1 if state.lag_seconds is None else state.lag_seconds
        ),
    )
    cold = ColdReads(settings) if settings.cold_url else None
    return ApiDeps(
        settings,
        stores,
        cache,
        metrics,
        symbols,
        hub,
        streams,
        exports,
        standby,
        tiered=Tiered(cold),
    )


def _register_error_handlers(app: Flask, deps: ApiDeps) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        if isinstance(error, Unavailable):
            deps.metrics.unavailable.inc()
            log.warning("answering 503: %s", error.message)
        response = json_response(error.body(), error.status)
        if isinstance(error, TooBusy):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = getattr(error, "data", {}).get("messages")
        if messages:
            detail = "; ".join(_flatten(messages))
            return json_response(envelope("invalid_parameter", detail), 400)
        code = _HTTP_CODES.get(status, "invalid_parameter" if status < 500 else "internal_error")
        response = json_response(envelope(code, error.description or error.name), status)
        for name, value in error.get_headers():  # a 405's Allow (RFC 9110), say
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        message = "an unexpected error occurred; it has been logged"
        return json_response(envelope("internal_error", message), 500)


def _flatten(messages: Any, where: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            name = key if key not in ("query", "json", "path") else ""
            out += _flatten(value, name or where)
        return out
    if isinstance(messages, list):
        text = " ".join(str(m) for m in messages)
        return [f"parameter {where!r}: {text}" if where else text]
    return [str(messages)]


def _register_metrics(app: Flask, deps: ApiDeps) -> None:
    inner = app.wsgi_app

    def timed(environ: dict[str, Any], start_response: Any) -> Any:
        environ[_STARTED] = time.perf_counter()
        return inner(environ, start_response)

    app.wsgi_app = timed  # type: ignore[method-assign]

    @app.after_request
    def observe(response: Response) -> Response:
        rule = request.url_rule
        started = request.environ.get(_STARTED)
        if started is not None:
            route = rule.rule if rule is not None else "unmatched"
            deps.metrics.observe(route, response.status_code, time.perf_counter() - started)
        return response
