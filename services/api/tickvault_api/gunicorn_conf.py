"""Gunicorn configuration of ``tickvault-api`` (read by Gunicorn with ``-c``).

Threaded workers (``gthread``); ``TICKVAULT_API_WORKERS`` processes of
``TICKVAULT_API_THREADS`` threads each, bound to ``TICKVAULT_API_BIND``; access log off unless
``TICKVAULT_API_ACCESS_LOG=1``. The app is loaded in each worker after the fork (no
``preload_app``), and ``post_fork`` drops any client a worker might have inherited, so no
socket is ever shared between processes.
"""

from __future__ import annotations

from typing import Any

from tickvault.config import load_settings
from tickvault_api.settings import ApiSettings

_settings = load_settings(ApiSettings)

bind = [_settings.api_bind]
workers = _settings.api_workers
threads = _settings.api_threads
worker_class = "gthread"
preload_app = False
graceful_timeout = _settings.api_graceful_timeout
timeout = 30
keepalive = 5
accesslog = "-" if _settings.api_access_log else None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "tickvault-api"


def post_fork(server: Any, worker: Any) -> None:
    """Forget any client created before the fork (there should be none)."""
    app = getattr(worker, "wsgi", None)
    ctx = getattr(app, "extensions", {}).get("tickvault") if app is not None else None
    if ctx is not None:
        ctx.stores.reset()


def child_exit(server: Any, worker: Any) -> None:
    """Tell prometheus-client a worker is gone, so its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
