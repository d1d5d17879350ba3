"""Plan what ``tickvault up`` runs: the processes, their arguments and their environment.

Pure: it reads :class:`UpSettings` and the command's options and returns
immutable values, so every choice (the demo's own database, the replay URLs, one metrics
port per writer) is unit-tested without starting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from tickvault.config import API_BIND, Bind, DatabaseUrl, Settings
from tickvault.symbols import Selection

DEMO_DATABASE = "tickvault_demo"
DEMO_REDIS_PREFIX = "tickvault-demo"
REPLAY_HOST = "127.0.0.1"
DEMO_MARKET = 300  # symbols of the synthetic market a replay runs for ALL or a pattern
DEFAULT_WRITER_METRICS_PORT = 9102
_ANY_HOST = {"0.0.0.0", "::", "[::]", "*", ""}


class UpSettings(Settings):
    """The shared settings plus the API's two that ``tickvault up`` plans with: where the API
    listens (the URL it prints) and whether the user chose the API's own database (the demo
    leaves that choice alone). The API reads and checks the same variables itself."""

    api_bind: Bind = API_BIND
    api_database_url: DatabaseUrl | None = None


@dataclass(frozen=True, slots=True)
class UpOptions:
    """What the user asked ``tickvault up`` for."""

    replay: bool = False
    recordings: tuple[str, ...] = ()
    speed: float = 1.0
    seed: int = 1
    writers: int = 1


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One child process: a display name, its argv and the variables set on top of ours."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return *base* with this service's variables set on top."""
        merged = dict(base)
        merged.update(self.env)
        return merged


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything ``tickvault up`` starts, in start order (the replay exchange first)."""

    database_url: str
    replay: ServiceSpec | None
    services: tuple[ServiceSpec, ...]
    api_url: str
    replay_rest_url: str | None
    redis_prefix: str = ""
    fresh_demo: bool = False


def starts_afresh(settings: UpSettings, options: UpOptions) -> bool:
    """Return whether a demo must empty its own database and keys before it starts.

    A demo is a fresh market each time: the synthetic market's ids keep growing across
    restarts, so a kept database would only gain one unfillable gap per restart (the ids
    between two runs were never traded). Only the demo's own database and prefix are ever
    emptied: never ones the user chose, which keep everything and continue where they were.
    """
    chosen = settings.model_fields_set
    return (
        options.replay
        and not options.recordings
        and "database_url" not in chosen
        and "redis_prefix" not in chosen
    )


def browse_url(bind: str) -> str:
    """Return the http URL a person on this machine opens for a ``HOST:PORT`` bind."""
    host, _, port = bind.rpartition(":")
    if host in _ANY_HOST:
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def demo_overrides(settings: UpSettings, options: UpOptions) -> dict[str, str]:
    """Return the variables a replay run sets unless the user set them.

    The demo keeps to its own database and Redis prefix so it never mixes synthetic trades
    with live ones; recordings are old, so retention is switched off for them, or the
    writer's maintenance would drop their partitions as soon as they are written.
    """
    if not options.replay:
        return {}
    chosen = settings.model_fields_set
    out: dict[str, str] = {}
    if "database_url" not in chosen:
        url = make_url(settings.database_url).set(database=DEMO_DATABASE)
        out["TICKVAULT_DATABASE_URL"] = url.render_as_string(hide_password=False)
        if "api_database_url" not in chosen:
            out["TICKVAULT_API_DATABASE_URL"] = out["TICKVAULT_DATABASE_URL"]
    if "redis_prefix" not in chosen:
        out["TICKVAULT_REDIS_PREFIX"] = DEMO_REDIS_PREFIX
    if options.recordings:
        if "retention_hours" not in chosen:
            out["TICKVAULT_RETENTION_HOURS"] = "0"
        if "candle_retention_days" not in chosen:
            out["TICKVAULT_CANDLE_RETENTION_DAYS"] = "0"
    return out


def replay_spec(
    options: UpOptions, symbols: tuple[str, ...], *, python: str, port: int
) -> ServiceSpec:
    """Return the replay exchange's process: recordings when given, else the seeded market of
    the configured names, or a whole synthetic market for ``ALL`` or a pattern."""
    argv = [python, "-m", "tickvault_replay", "--host", REPLAY_HOST, "--port", str(port)]
    if options.recordings:
        for path in options.recordings:
            argv += ["--recording", path]
    elif Selection.parse(symbols).is_explicit:
        argv += ["--synthetic", ",".join(symbols), "--seed", str(options.seed)]
    else:
        argv += ["--synthetic-market", str(DEMO_MARKET), "--seed", str(options.seed)]
    argv += ["--speed", _number(options.speed)]
    return ServiceSpec("replay", tuple(argv))


def writer_specs(count: int, env: Mapping[str, str], *, python: str) -> tuple[ServiceSpec, ...]:
    """Return *count* writers; several on one machine each get their own metrics port."""
    if count == 1:
        return (ServiceSpec("writer", (python, "-m", "tickvault_writer")),)
    base = int(env.get("TICKVAULT_WRITER_METRICS_PORT", DEFAULT_WRITER_METRICS_PORT))
    specs = []
    for i in range(count):
        port = "0" if base == 0 else str(base + i)
        specs.append(
            ServiceSpec(
                f"writer-{i + 1}",
                (python, "-m", "tickvault_writer"),
                (("TICKVAULT_WRITER_METRICS_PORT", port),),
            )
        )
    return tuple(specs)


def build_plan(
    settings: UpSettings,
    options: UpOptions,
    env: Mapping[str, str],
    *,
    python: str,
    replay_port: int = 0,
) -> Plan:
    """Return the processes to run for *options*, each with its own environment."""
    shared = demo_overrides(settings, options)
    replay: ServiceSpec | None = None
    rest_url: str | None = None
    if options.replay:
        replay = replay_spec(options, settings.symbols, python=python, port=replay_port)
        rest_url = f"http://{REPLAY_HOST}:{replay_port}"
        shared["TICKVAULT_BINANCE_WS_URL"] = f"ws://{REPLAY_HOST}:{replay_port}"
        shared["TICKVAULT_BINANCE_REST_URL"] = rest_url
    children = (
        ServiceSpec("collector", (python, "-m", "tickvault_collector")),
        *writer_specs(options.writers, env, python=python),
        ServiceSpec("api", (python, "-m", "tickvault_api")),
    )
    common = tuple(sorted(shared.items()))
    services = tuple(ServiceSpec(s.name, s.argv, common + s.env) for s in children)
    database_url = shared.get("TICKVAULT_DATABASE_URL", settings.database_url)
    prefix = shared.get("TICKVAULT_REDIS_PREFIX", settings.redis_prefix)
    return Plan(
        database_url,
        replay,
        services,
        browse_url(settings.api_bind),
        rest_url,
        prefix,
        starts_afresh(settings, options),
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
