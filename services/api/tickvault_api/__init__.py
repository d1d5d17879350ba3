"""tickvault's REST API: exact Binance trade prices over HTTP (Flask under Gunicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(settings: Any = None, *, redis: Any = None, db: Any = None) -> Flask:
    """Create the API application (see :func:`tickvault_api.app.create_app`)."""
    from tickvault_api.app import create_app as _create_app

    return _create_app(settings, redis=redis, db=db)
