"""``tickvault-api``: run the API under Gunicorn with the packaged config file.

``tickvault-api --check`` instead exits 0 when Redis and PostgreSQL answer, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources

from tickvault.config import load_settings
from tickvault.logs import configure_logging
from tickvault_api.settings import ApiSettings


def _prepare_metrics_dir() -> None:
    """Point prometheus-client at an empty directory shared by all workers."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tickvault-api-metrics-")


def _check(settings: ApiSettings) -> int:
    from tickvault_api.stores import Stores

    stores = Stores(settings)
    try:
        status = stores.ping()
    finally:
        stores.close()
    for name, ok in status.items():
        print(f"{name}: {'ok' if ok else 'DOWN'}")  # noqa: T201
    return 0 if all(status.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Start Gunicorn (or, with ``--check``, report whether the stores answer)."""
    parser = argparse.ArgumentParser(prog="tickvault-api", description=__doc__)
    parser.add_argument("--check", action="store_true", help="check Redis and PostgreSQL, exit")
    args = parser.parse_args(argv)
    settings = load_settings(ApiSettings)
    configure_logging(settings.log_level, json_lines=settings.log_json, service="api")
    if args.check:
        return _check(settings)
    _prepare_metrics_dir()
    from gunicorn.app.wsgiapp import WSGIApplication

    config = resources.files("tickvault_api").joinpath("gunicorn_conf.py")
    sys.argv = ["tickvault-api", "-c", str(config), "tickvault_api:create_app()"]
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
