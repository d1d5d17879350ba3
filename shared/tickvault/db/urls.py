"""Database URLs (pure): libpq's multi-host form, as SQLAlchemy and psycopg2 want it.

``TICKVAULT_DATABASE_URL`` may list several servers the way libpq does,
``postgresql://user@h1:5432,h2:5432/db?target_session_attrs=read-write``: libpq tries them in
turn and keeps the first that suits ``target_session_attrs``, which is how a client follows
the primary after a standby is promoted. SQLAlchemy's URL parser reads only one host, so
:func:`parse_database_url` turns the list into SQLAlchemy's documented multi-host form
(``?host=h1:5432&host=h2:5432``), which its psycopg2 dialect hands back to libpq as
``host=h1,h2 port=5432,5432``. :func:`libpq_url` goes the other way for psycopg2 used directly.

A multi-host URL without ``target_session_attrs`` gets ``read-write``: tickvault's writers,
migrations and the collector's reads want the primary, and libpq's default (``any``) would
settle for whichever server answers first. The API asks for a standby explicitly.
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
PRIMARY = "read-write"
PREFER_STANDBY = "prefer-standby"
DRIVER = "postgresql+psycopg2"


def parse_database_url(url: str) -> URL:
    """Return *url* (one host or libpq's ``h1:p1,h2:p2`` list) as a SQLAlchemy URL.

    Raise ValueError naming what is wrong: the scheme, a host, a port, a session attribute.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in SCHEMES)}")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, hostlist = netloc.rpartition("@")
    try:
        if "," in hostlist:
            hosts = [_host_port(item) for item in hostlist.split(",")]
            parsed = make_url(f"{scheme}://{userinfo}{at}{rest[len(netloc) :]}")
            parsed = parsed.update_query_pairs([("host", h) for h in hosts], append=True)
        else:
            parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"is not a valid database URL ({exc})") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"port {parsed.port} is not a port number (1-65535)")
    if not parsed.host and not parsed.query.get("host"):
        raise ValueError("names no host (postgresql://USER@HOST:PORT/DATABASE)")
    for host in hosts_of(parsed):
        _host_port(host)  # the ?host= form is checked like the comma-separated one
    attrs = parsed.query.get("target_session_attrs")
    if attrs is not None and attrs not in SESSION_ATTRS:
        raise ValueError(f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}")
    return parsed.set(drivername=DRIVER)


def hosts_of(url: URL) -> list[str]:
    """Return the ``host:port`` entries of a multi-host URL (empty for a single host)."""
    value = url.query.get("host")
    if value is None or isinstance(value, str):
        return []
    return list(value)


def with_session_attrs(url: URL, attrs: str | None) -> URL:
    """Return *url* with ``target_session_attrs`` set to *attrs* unless it names its own.

    Only a multi-host URL changes (with one server there is nothing to choose between), and
    nothing does when *attrs* is None.
    """
    if attrs is None or not hosts_of(url) or "target_session_attrs" in url.query:
        return url
    return url.update_query_dict({"target_session_attrs": attrs})


def sqlalchemy_url(url: str, *, session_attrs: str | None = PRIMARY) -> str:
    """Return *url* as SQLAlchemy's psycopg2 URL string (multi-host: ``?host=`` pairs)."""
    parsed = with_session_attrs(parse_database_url(url), session_attrs)
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str, *, session_attrs: str | None = PRIMARY) -> str:
    """Return *url* as a libpq connection URI (for psycopg2 used directly)."""
    parsed = with_session_attrs(parse_database_url(url), session_attrs)
    hosts = hosts_of(parsed)
    if not hosts:
        return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    userinfo = ""
    if parsed.username is not None:
        userinfo = quote(parsed.username, safe="")
        if parsed.password is not None:
            userinfo += ":" + quote(str(parsed.password), safe="")
        userinfo += "@"
    query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}"
        for k, values in parsed.query.items()
        if k != "host"
        for v in ((values,) if isinstance(values, str) else values)
    )
    database = quote(parsed.database or "", safe="")
    return f"postgresql://{userinfo}{','.join(hosts)}/{database}" + (f"?{query}" if query else "")


def with_database(url: str, database: str) -> str:
    """Return *url* pointed at another database on the same server(s), in libpq's form."""
    parsed = parse_database_url(url).set(database=database)
    return libpq_url(parsed.render_as_string(hide_password=False), session_attrs=None)


def _host_port(item: str) -> str:
    """Check one ``host[:port]`` entry of a host list; return it unchanged."""
    host, sep, port = item.rpartition(":") if ":" in item else (item, "", "")
    if "[" in item or "]" in item or host.count(":"):
        raise ValueError("a multi-host URL takes host names or IPv4 addresses, not IPv6")
    if not host.strip():
        raise ValueError(f"an empty host in the host list ({item!r})")
    if sep and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"port {port!r} of host {host!r} is not a port number (1-65535)")
    return item
