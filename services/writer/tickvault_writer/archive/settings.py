"""The settings of ``tickvault import``: the archive's URL, and the REST budget the collector
uses (:class:`~tickvault.config.RestBudgetSettings`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from tickvault.config import RestBudgetSettings, check_url


class ImportSettings(RestBudgetSettings):
    """Settings of ``tickvault import``: the archive's URL and the collector's REST budget."""

    archive_url: str = "https://data.binance.vision"
    archive_timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("archive_url")
    @classmethod
    def _archive_url(cls, value: str) -> str:
        return check_url(value, ("http", "https")).rstrip("/")
