"""Settings: the README defaults, every variable read from the environment, one-line exit 2 on a
bad value, and passwords masked wherever settings are shown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import run_tickvault

from tickvault.cli.up_plan import UpSettings
from tickvault.config import Settings
from tickvault_api.settings import ApiSettings
from tickvault_collector.settings import CollectorSettings

SPEC_DEFAULTS = {
    "redis_url": "redis://127.0.0.1:6379/0",
    "database_url": "postgresql://postgres@127.0.0.1:5432/tickvault",
    "api_database_url": "postgresql://postgres@127.0.0.1:5432/tickvault",
    "symbols": ("BTCUSDT", "ETHUSDT"),
    "binance_ws_url": "wss://stream.binance.com:9443",
    "binance_rest_url": "https://api.binance.com",
    "retention_hours": 24,
    "api_bind": "127.0.0.1:8000",
}

# (variable, value in the environment, attribute, value the settings hold)
GOOD_VALUES = [
    ("TICKVAULT_REDIS_URL", "redis://10.0.0.5:6380/3", "redis_url", "redis://10.0.0.5:6380/3"),
    (
        "TICKVAULT_DATABASE_URL",
        "postgresql://writer@db:5433/tv",
        "database_url",
        "postgresql://writer@db:5433/tv",
    ),
    (
        "TICKVAULT_API_DATABASE_URL",
        "postgresql://reader@db/tv",
        "api_database_url",
        "postgresql://reader@db/tv",
    ),
    ("TICKVAULT_SYMBOLS", "solusdt", "symbols", ("SOLUSDT",)),
    ("TICKVAULT_BINANCE_WS_URL", "ws://127.0.0.1:9443", "binance_ws_url", "ws://127.0.0.1:9443"),
    (
        "TICKVAULT_BINANCE_REST_URL",
        "http://127.0.0.1:9443/",
        "binance_rest_url",
        "http://127.0.0.1:9443",
    ),
    ("TICKVAULT_RETENTION_HOURS", "0", "retention_hours", 0),
    ("TICKVAULT_RETENTION_HOURS", "168", "retention_hours", 168),
    ("TICKVAULT_API_BIND", "0.0.0.0:8080", "api_bind", "0.0.0.0:8080"),
    ("TICKVAULT_REDIS_PREFIX", "tv-prod", "redis_prefix", "tv-prod"),
    ("TICKVAULT_CANDLE_RETENTION_DAYS", "7", "candle_retention_days", 7),
    ("TICKVAULT_STREAM_MAXLEN", "50000", "stream_maxlen", 50000),
    ("TICKVAULT_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("TICKVAULT_LOG_JSON", "1", "log_json", True),
    ("TICKVAULT_REDIS_CLUSTER", "true", "redis_cluster", True),
    ("TICKVAULT_STREAM_SHARDS", "3", "stream_shards", 3),
    ("TICKVAULT_COLD_URL", "file:///data/cold", "cold_url", "file:///data/cold"),
    ("TICKVAULT_COLD_URL", "s3://market/tickvault", "cold_url", "s3://market/tickvault"),
    ("TICKVAULT_COLD_RETENTION_DAYS", "3650", "cold_retention_days", 3650),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333", "aws_endpoint_url", "http://127.0.0.1:8333"),
    ("AWS_REGION", "eu-west-1", "aws_region", "eu-west-1"),
    (
        "TICKVAULT_DATABASE_URL",
        "postgresql://postgres@127.0.0.1:17200,127.0.0.1:17201/db",
        "database_url",
        "postgresql://postgres@127.0.0.1:17200,127.0.0.1:17201/db",
    ),
    (
        "TICKVAULT_API_DATABASE_URL",
        "postgresql://reader@h1,h2:5433/tv?target_session_attrs=prefer-standby",
        "api_database_url",
        "postgresql://reader@h1,h2:5433/tv?target_session_attrs=prefer-standby",
    ),
]

# (variable, a value that must stop the process)
# Read by the collector only, so checked on its settings and its command.
COLLECTOR_VARIABLES = {
    "TICKVAULT_BINANCE_WS_URL",
    "TICKVAULT_BINANCE_REST_URL",
    "TICKVAULT_STREAM_MAXLEN",
}
# Read by the API (and by ``tickvault up``, which plans it), so checked on theirs.
API_VARIABLES = {"TICKVAULT_API_BIND", "TICKVAULT_API_DATABASE_URL"}


def owner_of(variable: str) -> type[Settings]:
    """Return the settings class that reads *variable*."""
    if variable in COLLECTOR_VARIABLES:
        return CollectorSettings
    return ApiSettings if variable in API_VARIABLES else Settings


SECRET = "hunter2"
BAD_VALUES = [
    ("TICKVAULT_REDIS_URL", "localhost:6379"),
    ("TICKVAULT_REDIS_URL", "http://127.0.0.1:6379"),
    ("TICKVAULT_REDIS_PREFIX", "two words"),
    ("TICKVAULT_DATABASE_URL", "mysql://root:hunter2@db/tickvault"),
    ("TICKVAULT_API_DATABASE_URL", "not a url"),
    ("TICKVAULT_SYMBOLS", "BTC/USDT"),
    ("TICKVAULT_SYMBOLS", " , "),
    ("TICKVAULT_BINANCE_WS_URL", "https://stream.binance.com"),
    ("TICKVAULT_BINANCE_REST_URL", "ftp://api.binance.com"),
    ("TICKVAULT_RETENTION_HOURS", "-1"),
    ("TICKVAULT_RETENTION_HOURS", "a day"),
    ("TICKVAULT_RETENTION_HOURS", "1.5"),
    ("TICKVAULT_CANDLE_RETENTION_DAYS", "-3"),
    ("TICKVAULT_API_BIND", "8000"),
    ("TICKVAULT_API_BIND", "127.0.0.1:99999"),
    ("TICKVAULT_STREAM_MAXLEN", "10"),
    ("TICKVAULT_LOG_LEVEL", "LOUD"),
    ("TICKVAULT_LOG_JSON", "maybe"),
    ("TICKVAULT_REDIS_CLUSTER", "perhaps"),
    ("TICKVAULT_STREAM_SHARDS", "0"),
    ("TICKVAULT_STREAM_SHARDS", "1025"),
    ("TICKVAULT_STREAM_SHARDS", "three"),
    ("TICKVAULT_DATABASE_URL", "postgresql://postgres@127.0.0.1:17200,127.0.0.1:99999/db"),
    ("TICKVAULT_DATABASE_URL", f"postgresql://w:{SECRET}@h1:5432,h2:5x/db"),
    ("TICKVAULT_API_DATABASE_URL", "postgresql://r@h1,h2/tv?target_session_attrs=nearest"),
    ("TICKVAULT_COLD_URL", "/data/cold"),
    ("TICKVAULT_COLD_URL", "file://relative/cold"),
    ("TICKVAULT_COLD_URL", "gs://bucket/cold"),
    ("TICKVAULT_COLD_RETENTION_DAYS", "-1"),
    ("AWS_ENDPOINT_URL", "localhost:8333"),
]

URLS_WITH_SECRETS: dict[str, Any] = {
    "database_url": f"postgresql://writer:{SECRET}@db.internal:5432/tickvault",
    "api_database_url": f"postgresql://reader:{SECRET}@db.internal:5432/tickvault",
    "redis_url": f"redis://:{SECRET}@cache.internal:6379/0",
}


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment without any TICKVAULT_ variable, in a directory without a .env file."""
    for name in list(os.environ):
        if name.startswith(("TICKVAULT_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_are_the_spec_defaults(bare_env: pytest.MonkeyPatch) -> None:
    for name, default in SPEC_DEFAULTS.items():
        assert getattr(owner_of(f"TICKVAULT_{name.upper()}")(), name) == default, name
    assert ApiSettings().api_db_url == SPEC_DEFAULTS["database_url"]
    assert UpSettings().api_bind == SPEC_DEFAULTS["api_bind"]


def test_the_shared_settings_hold_no_variable_of_one_service_alone() -> None:
    own = set(CollectorSettings.model_fields) | set(ApiSettings.model_fields)
    own -= set(Settings.model_fields)
    assert {f"TICKVAULT_{n.upper()}" for n in own} >= COLLECTOR_VARIABLES | API_VARIABLES
    assert not {f"TICKVAULT_{n.upper()}" for n in Settings.model_fields} & API_VARIABLES


@pytest.mark.parametrize(("variable", "raw", "attribute", "expected"), GOOD_VALUES)
def test_every_variable_is_read_from_the_environment(
    bare_env: pytest.MonkeyPatch, variable: str, raw: str, attribute: str, expected: Any
) -> None:
    bare_env.setenv(variable, raw)
    assert getattr(owner_of(variable)(), attribute) == expected


def test_dotenv_file_is_read(bare_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TICKVAULT_SYMBOLS=dotusdt\nTICKVAULT_RETENTION_HOURS=6\n")
    settings = Settings()
    assert (settings.symbols, settings.retention_hours) == (("DOTUSDT",), 6)


def test_symbols_are_comma_separated_case_insensitive_and_deduplicated(
    bare_env: pytest.MonkeyPatch,
) -> None:
    bare_env.setenv("TICKVAULT_SYMBOLS", " btcusdt, EthUsdt ,,BTCUSDT,solusdt ")
    assert Settings().symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def test_api_database_url_follows_database_url_unless_set(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("TICKVAULT_DATABASE_URL", "postgresql://writer@db/tv")
    assert ApiSettings().api_db_url == "postgresql://writer@db/tv"
    bare_env.setenv("TICKVAULT_API_DATABASE_URL", "postgresql://reader@db/tv")
    settings = ApiSettings()
    assert (settings.database_url, settings.api_db_url) == (
        "postgresql://writer@db/tv",
        "postgresql://reader@db/tv",
    )


def test_services_extend_settings_with_their_own_variables(bare_env: pytest.MonkeyPatch) -> None:
    class WriterSettings(Settings):
        writer_batch_size: int = 5000

    bare_env.setenv("TICKVAULT_WRITER_BATCH_SIZE", "250")
    settings = WriterSettings()
    assert (settings.writer_batch_size, settings.retention_hours) == (250, 24)


@pytest.mark.parametrize(("variable", "raw"), BAD_VALUES)
def test_bad_value_exits_2_with_one_line_naming_the_variable(
    tmp_path: Path, variable: str, raw: str
) -> None:
    for command in commands_reading(variable):
        line = refused_line(tmp_path, {variable: raw}, command)
        assert variable in line, command
        assert SECRET not in line


def commands_reading(variable: str) -> list[tuple[str, ...]]:
    """Return the commands that read *variable* at start (program, arguments)."""
    if variable in COLLECTOR_VARIABLES:
        return [("tickvault-collector", "--check")]
    if variable in API_VARIABLES:
        return [("tickvault-api", "--check"), ("tickvault", "up")]
    return [("tickvault", "db", "upgrade")]


def refused_line(
    cwd: Path, variables: dict[str, str], command: tuple[str, ...] = ("tickvault", "db", "upgrade")
) -> str:
    """Run *command* with *variables*; return its one line, having checked that it exited 2."""
    program, *args = command
    # Should validation wrongly pass, the command must not touch a real database or Redis.
    env = {
        "TICKVAULT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/tickvault_never",
        "TICKVAULT_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = run_tickvault(*args, env=env | variables, cwd=cwd, timeout=60, program=program)
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 2, done.stderr
    assert len(output) == 1, output
    return output[0]


def test_safe_dict_and_repr_mask_passwords() -> None:
    settings = ApiSettings(_env_file=None, **URLS_WITH_SECRETS)
    safe = settings.safe_dict()
    assert safe["database_url"] == "postgresql://writer:***@db.internal:5432/tickvault"
    assert safe["api_database_url"] == "postgresql://reader:***@db.internal:5432/tickvault"
    assert safe["redis_url"] == "redis://:***@cache.internal:6379/0"
    for shown in (repr(settings), str(settings), repr(safe)):
        assert SECRET not in shown
        assert "writer:***@db.internal" in shown
    # The real values stay usable by the code that connects.
    assert settings.database_url == URLS_WITH_SECRETS["database_url"]


def test_the_cold_tiers_secret_key_is_never_shown(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("TICKVAULT_COLD_URL", "s3://market/tickvault")
    bare_env.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    settings = Settings()
    for shown in (repr(settings), str(settings), repr(settings.safe_dict())):
        assert SECRET not in shown
    secret = settings.aws_secret_access_key
    assert secret is not None and secret.get_secret_value() == SECRET


def test_stream_shards_and_cluster_mode_shape_the_redis_names(
    bare_env: pytest.MonkeyPatch,
) -> None:
    assert Settings().redis_keys.stream == "tickvault:ticks"
    bare_env.setenv("TICKVAULT_REDIS_CLUSTER", "true")
    bare_env.setenv("TICKVAULT_STREAM_SHARDS", "2")
    bare_env.setenv("TICKVAULT_REDIS_PREFIX", "tv")
    keys = Settings().redis_keys
    assert [s.stream for s in keys.all_shards()] == ["tv:{s0}:ticks", "tv:{s1}:ticks"]


@pytest.mark.parametrize(
    ("variable", "raw", "reason"),
    [
        ("TICKVAULT_REDIS_URL", "unix://localhost/run/redis.sock", "reached over TCP"),
        ("TICKVAULT_REDIS_URL", "redis://10.0.0.5:7000/3", "a database other than 0"),
        ("TICKVAULT_REDIS_PREFIX", "tv{prod}", "brace"),
    ],
)
def test_cluster_mode_refuses_what_a_cluster_cannot_do(
    tmp_path: Path, variable: str, raw: str, reason: str
) -> None:
    line = refused_line(tmp_path, {"TICKVAULT_REDIS_CLUSTER": "true", variable: raw})
    assert line.startswith(
        f"tickvault: invalid configuration: TICKVAULT_REDIS_CLUSTER=true, but {variable} "
    )
    assert reason in line
