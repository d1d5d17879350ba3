"""Database URLs: libpq's multi-host form reaches SQLAlchemy and psycopg2 with every host."""

from __future__ import annotations

import psycopg2.extensions
import pytest
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2

from tickvault.db.urls import (
    hosts_of,
    libpq_url,
    parse_database_url,
    sqlalchemy_url,
    with_database,
)

MULTI = "postgresql://postgres@127.0.0.1:17200,127.0.0.1:17201/db"


def connect_args(url: str) -> dict[str, object]:
    """Return what SQLAlchemy's psycopg2 dialect hands to psycopg2.connect for *url*."""
    _, kwargs = PGDialect_psycopg2().create_connect_args(parse_database_url(url))
    return dict(kwargs)


def test_the_issue_url_gives_libpq_every_host_and_the_primary() -> None:
    # `tickvault db upgrade` stopped here with "invalid literal for int()".
    args = connect_args(sqlalchemy_url(MULTI))
    assert args["host"] == "127.0.0.1,127.0.0.1"
    assert args["port"] == "17200,17201"
    assert args["dbname"] == "db"
    assert args["target_session_attrs"] == "read-write"  # added: tickvault writes


def test_a_session_attribute_in_the_url_is_kept() -> None:
    url = MULTI + "?target_session_attrs=prefer-standby&sslmode=disable"
    args = connect_args(sqlalchemy_url(url))
    assert (args["target_session_attrs"], args["sslmode"]) == ("prefer-standby", "disable")
    assert hosts_of(parse_database_url(url)) == ["127.0.0.1:17200", "127.0.0.1:17201"]


def test_one_host_is_left_as_it_was() -> None:
    url = "postgresql://writer:s%40cret@db.internal:5433/tickvault"
    assert sqlalchemy_url(url) == "postgresql+psycopg2://writer:s%40cret@db.internal:5433/tickvault"
    assert libpq_url(url) == url
    assert "target_session_attrs" not in connect_args(url)


def test_libpq_url_lists_the_hosts_back_for_psycopg2() -> None:
    url = "postgresql://w:p%2Fw@h1:5432,h2/tv?sslmode=require"
    dsn = libpq_url(url)
    assert (
        dsn == "postgresql://w:p%2Fw@h1:5432,h2/tv?sslmode=require&target_session_attrs=read-write"
    )
    parsed = psycopg2.extensions.parse_dsn(dsn)
    assert (parsed["host"], parsed["port"], parsed["password"]) == ("h1,h2", "5432,", "p/w")


def test_another_database_on_the_same_servers() -> None:
    assert with_database(MULTI, "postgres") == (
        "postgresql://postgres@127.0.0.1:17200,127.0.0.1:17201/postgres"
    )
    assert with_database("postgresql://u@h:1/a", "b") == "postgresql://u@h:1/b"


def test_sqlalchemy_multi_host_form_is_accepted_too() -> None:
    args = connect_args("postgresql://u@/db?host=h1:5432&host=h2:5433")
    assert (args["host"], args["port"]) == ("h1,h2", "5432,5433")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://postgres@127.0.0.1:17200,127.0.0.1:99999/db", "not a port number"),
        ("postgresql://postgres@h1:5432,h2:x/db", "not a port number"),
        ("postgresql://postgres@h1,,h2/db", "empty host"),
        ("postgresql://postgres@[::1]:5432,h2/db", "not IPv6"),
        ("postgresql://u@h:abc/db", "not a valid database URL"),
        ("postgresql://u@h:0/db", "not a port number"),
        ("postgresql:///db", "names no host"),
        ("mysql://root@db/tv", "must be a URL starting with postgresql://"),
        (MULTI + "?target_session_attrs=fastest", "target_session_attrs must be one of"),
        ("postgresql://u@/db?host=h1:5432&host=h2:nope", "not a port number"),
    ],
)
def test_a_bad_url_says_what_is_wrong(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_database_url(url)
