"""The settings of ``tickvault import``: the archive's URL, and the REST budget the collector
uses (:class:`~tickvault.config.RestBudgetSettings`)."""

from __future__ import annotations

from pydantic import Field

from tickvault.config import HttpBaseUrl, RestBudgetSettings


class ImportSettings(RestBudgetSettings):
    """Settings of ``tickvault import``: the archive's URL and the collector's REST budget."""

    archive_url: HttpBaseUrl = "https://data.binance.vision"
    archive_timeout_s: float = Field(default=120.0, gt=0)
    import_metrics_port: int = Field(default=0, ge=0, le=65535)  # 0: not served
    import_metrics_bind: str = "0.0.0.0"
