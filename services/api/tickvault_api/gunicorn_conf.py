"""Gunicorn configuration of ``tickvault-api`` (read by Gunicorn with ``-c``).

``TICKVAULT_API_WORKERS`` processes of Gunicorn's ``gevent`` worker class, bound to
``TICKVAULT_API_BIND``: every connection is a greenlet, so an idle live stream costs memory,
not a thread, and a slow request never holds a thread others wait for. psycopg2 is made
cooperative with psycogreen in each worker; redis-py is, through gevent's socket patching.
Each worker accepts up to ``TICKVAULT_API_MAX_STREAMS`` streams plus
``TICKVAULT_API_CONNECTIONS`` other connections. Access log off unless
``TICKVAULT_API_ACCESS_LOG=1``. The app is loaded in each worker after the fork (no
``preload_app``), so a worker inherits no client and no socket is shared between processes
(and :class:`~tickvault_api.stores.Stores` makes its clients anew in any other process).
"""

from __future__ import annotations

from typing import Any

from tickvault.config import load_settings
from tickvault_api.settings import ApiSettings

_settings = load_settings(ApiSettings)

bind = [_settings.api_bind]
workers = _settings.api_workers
worker_class = "gevent"
worker_connections = _settings.api_max_streams + _settings.api_connections
preload_app = False
graceful_timeout = _settings.api_graceful_timeout
timeout = 30
keepalive = 5
accesslog = "-" if _settings.api_access_log else None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "tickvault-api"


def _deps(worker: Any) -> Any:
    app = getattr(worker, "wsgi", None)
    return getattr(app, "extensions", {}).get("tickvault") if app is not None else None


def post_worker_init(worker: Any) -> None:
    """Make psycopg2 cooperative, and end the live streams as soon as the worker stops."""
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
    deps = _deps(worker)
    if deps is not None:
        deps.hub.stop_when(lambda: bool(worker.alive))


def child_exit(server: Any, worker: Any) -> None:
    """Tell prometheus-client a worker is gone, so its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
