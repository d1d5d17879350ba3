"""Configuration from the environment (and a ``.env`` file), validated once at start.

:class:`Settings` holds the variables more than one service reads (the README's configuration
table); each service subclasses it with its own, and so does ``tickvault up``
(:class:`~tickvault.cli.up_plan.UpSettings`, a few of the API's to plan it). :func:`load_settings`
is the one door: on a bad value it prints one line naming the variable and exits with status
2. Secrets (passwords in URLs) are masked in :meth:`Settings.safe_dict`, which is what gets
printed or logged.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tickvault.db.urls import parse_database_url
from tickvault.keys import MAX_SHARDS, RedisKeys
from tickvault.logs import mask_secrets
from tickvault.symbols import Selection

ENV_PREFIX = "TICKVAULT_"
API_BIND = "127.0.0.1:8000"  # where tickvault-api listens by default (TICKVAULT_API_BIND)


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    """Return *value* when it is a URL of one of *schemes*; raise ValueError otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value


def check_bind(value: str) -> str:
    """Return *value* when it is ``HOST:PORT``; raise ValueError otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8000")
    return value


def check_database_url(value: str) -> str:
    """Return *value* when it is a PostgreSQL URL tickvault can use (one host or several)."""
    parse_database_url(value)  # a ValueError names what is wrong (hosts, ports, scheme)
    return value


def check_cold_url(value: str | None) -> str | None:
    """Return *value* when it names a cold tier (``file:///path`` or ``s3://bucket[/prefix]``)."""
    if value is None or not value.strip():
        return None
    parts = urlsplit(value)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return value
    if parts.scheme == "s3" and parts.netloc:
        return value
    raise ValueError("must be file:///absolute/path or s3://bucket/prefix")


# Field types for the settings that hold an address or a database URL, checked on load
def check_base_url(value: str, schemes: tuple[str, ...]) -> str:
    """Return *value* without a trailing slash when it is a URL of one of *schemes* (a base
    that paths are appended to); raise ValueError otherwise."""
    return check_url(value, schemes).rstrip("/")


Bind = Annotated[str, AfterValidator(check_bind)]
DatabaseUrl = Annotated[str, AfterValidator(check_database_url)]
HttpBaseUrl = Annotated[str, AfterValidator(lambda v: check_base_url(v, ("http", "https")))]
WsBaseUrl = Annotated[str, AfterValidator(lambda v: check_base_url(v, ("ws", "wss")))]


def cluster_problem(redis_url: str, prefix: str) -> str | None:
    """Return why *redis_url* and *prefix* cannot address a Redis Cluster, or None."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return "TICKVAULT_REDIS_URL is a unix socket: a Redis Cluster is reached over TCP"
    if parts.path.strip("/") not in ("", "0"):
        return "TICKVAULT_REDIS_URL names a database other than 0: a Redis Cluster has only 0"
    if "{" in prefix or "}" in prefix:
        return "TICKVAULT_REDIS_PREFIX holds a brace, which would break the keys' hash tags"
    return None


class Settings(BaseSettings):
    """Settings shared by every tickvault service."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",  # UTF-8 symbol names, whatever the locale
        extra="ignore",
        frozen=True,
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    redis_prefix: str = "tickvault"
    stream_shards: int = Field(default=1, ge=1, le=MAX_SHARDS)
    database_url: DatabaseUrl = "postgresql://postgres@127.0.0.1:5432/tickvault"
    symbols: Annotated[tuple[str, ...], NoDecode] = ("BTCUSDT", "ETHUSDT")
    retention_hours: int = Field(default=24, ge=0, le=24 * 3650)
    candle_retention_days: int = Field(default=30, ge=0, le=3650)
    cold_url: Annotated[str | None, AfterValidator(check_cold_url)] = None
    cold_retention_days: int = Field(default=0, ge=0, le=36500)
    # The standard AWS variables (no TICKVAULT_ prefix): where an s3:// cold tier lives.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    aws_access_key_id: str | None = Field(default=None, validation_alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias="AWS_SECRET_ACCESS_KEY"
    )
    aws_region: str | None = Field(default=None, validation_alias="AWS_REGION")
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return check_url(value, ("redis", "rediss", "unix"))

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        return Selection.parse(str(item) for item in items).terms()

    @field_validator("aws_endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if not value else check_url(value, ("http", "https"))

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("redis_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError("must be a non-empty name without spaces")
        return value

    @model_validator(mode="after")
    def _cluster_fits(self) -> Settings:
        if self.redis_cluster:
            # Raised here, pydantic names no field: describe_error says TICKVAULT_REDIS_CLUSTER.
            problem = cluster_problem(self.redis_url, self.redis_prefix)
            if problem:
                raise ValueError(f"TICKVAULT_REDIS_CLUSTER=true, but {problem}")
        return self

    @property
    def redis_keys(self) -> RedisKeys:
        """Return the deployment's Redis names (prefix, stream shards, cluster hash tags)."""
        return RedisKeys(self.redis_prefix, self.stream_shards, self.redis_cluster)

    @property
    def selection(self) -> Selection:
        """Return ``TICKVAULT_SYMBOLS`` parsed: explicit names, ``ALL`` and patterns."""
        return Selection.parse(self.symbols)

    def safe_dict(self) -> dict[str, Any]:
        """Return the settings as a dict with every secret masked, fit to print or log."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            out[name] = mask_secrets(value) if isinstance(value, str) else value
        return out

    def __repr_args__(self) -> Any:
        """Mask secrets in ``repr()`` too."""
        return list(self.safe_dict().items())


S = TypeVar("S", bound=Settings)


def describe_error(error: ValidationError, cls: type[Settings]) -> str:
    """Turn the first validation error into one line naming the environment variable."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a check across fields: its message names the variables
        return f"invalid configuration: {message}"
    field = str(first["loc"][0])
    # An alias (AWS_REGION) is the variable's own name; a field gets the TICKVAULT_ prefix.
    variable = field if field.isupper() else ENV_PREFIX + field.upper()
    value = first.get("input")
    shown = (
        "" if value is None or isinstance(value, dict) else f" (got {mask_secrets(str(value))!r})"
    )
    return f"invalid configuration: {variable}: {message}{shown}"


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Read and validate settings; on a bad value print one line and exit with status 2."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        print(f"tickvault: {describe_error(exc, cls)}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


class RestBudgetSettings(Settings):
    """Binance's REST URL and the share of its weight budget tickvault spends: read by the
    collector and by ``tickvault import``, so both spend the same budget."""

    binance_rest_url: HttpBaseUrl = "https://api.binance.com"
    collector_rest_weight_share: float = Field(default=0.5, gt=0, le=1)
    collector_rest_weight_limit: int = Field(default=6000, ge=1)
    collector_backoff_max_s: float = Field(default=30.0, gt=0)
