"""Run Alembic migrations from code (``tickvault db upgrade`` and the tests use this)."""

from __future__ import annotations

import time
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import OperationalError

from tickvault.db.engine import create_database_if_missing
from tickvault.db.urls import hosts_of, parse_database_url, sqlalchemy_url

STANDBY_CATCH_UP_S = 30.0


def alembic_config(url: str) -> Config:
    """Return an Alembic config for the packaged migrations, pointed at *url*."""
    ini = resources.files("tickvault.db.migrations").joinpath("alembic.ini")
    with resources.as_file(ini) as path:
        config = Config(str(path))
    config.set_main_option("script_location", "tickvault.db:migrations")
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, create_database: bool = True) -> bool:
    """Create the database when missing and apply migrations; return whether it was created."""
    created = create_database_if_missing(url) if create_database else False
    deadline = time.monotonic() + STANDBY_CATCH_UP_S
    while True:
        try:
            command.upgrade(alembic_config(url), revision)
            return created
        except OperationalError as exc:
            # libpq does not try the next host when one refuses the database: a standby
            # listed before the primary refuses one created a moment ago until it replays it.
            fresh = created and len(hosts_of(parse_database_url(url))) > 1
            if not fresh or "does not exist" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def downgrade(url: str, revision: str = "base") -> None:
    """Undo migrations down to *revision*."""
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise when the models and the migrated database disagree (``alembic check``)."""
    command.check(alembic_config(url))


def current(url: str) -> None:
    """Print the current revision."""
    command.current(alembic_config(url))
