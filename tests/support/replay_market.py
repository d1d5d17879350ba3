"""Run an in-process synthetic market for unit tests and talk to its REST and control API.

def test_x() -> None:
    async def scenario(m: MarketClient) -> ...:
        status, body, headers = await m.get("/api/v3/exchangeInfo")
    run_market(scenario, market=300)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from tickvault_replay import ReplayConfig, RunningReplay, running_replay


@dataclass
class MarketClient:
    """An in-process replay exchange and an HTTP session on it."""

    replay: RunningReplay
    http: aiohttp.ClientSession

    async def get(
        self, path: str, headers: dict[str, str] | None = None, **params: str
    ) -> tuple[int, Any, dict[str, str]]:
        """GET *path*; return status, parsed JSON body and headers."""
        async with self.http.get(
            self.replay.rest_url + path, params=params, headers=headers or {}
        ) as resp:
            return resp.status, await resp.json(content_type=None), dict(resp.headers)

    async def raw(self, path: str, **params: str) -> tuple[int, bytes]:
        """GET *path*; return status and the body bytes."""
        async with self.http.get(self.replay.rest_url + path, params=params) as resp:
            return resp.status, await resp.read()

    async def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send *method* to a control-API *path* with a JSON *body*."""
        async with self.http.request(method, self.replay.rest_url + path, json=body) as resp:
            return resp.status, await resp.json()

    async def wait_for(self, check: Callable[[], bool], seconds: float = 20.0) -> None:
        """Poll *check* until it holds (bounded)."""
        async with asyncio.timeout(seconds):
            while not check():
                await asyncio.sleep(0.02)


def subscribe_batches(names: list[str], limit: int = 4088) -> list[list[str]]:
    """Split *names* into SUBSCRIBE params whose message stays within *limit* bytes."""
    out: list[list[str]] = [[]]
    for name in names:
        trial = json.dumps({"method": "SUBSCRIBE", "params": [*out[-1], name], "id": 999999})
        if len(trial.encode()) > limit and out[-1]:
            out.append([])
        out[-1].append(name)
    return out


def run_market(scenario: Callable[[MarketClient], Awaitable[Any]], **config: Any) -> Any:
    """Run *scenario* against a replay exchange built from *config* (``port`` 0)."""
    settings = {"port": 0, "speed": 1.0, "first_id": 1000, "seed": 1} | config
    if not settings.get("recordings") and not settings.get("synthetic"):
        settings.setdefault("market", 300)

    async def main() -> Any:
        async with (
            running_replay(ReplayConfig(**settings)) as replay,
            aiohttp.ClientSession() as http,
        ):
            return await scenario(MarketClient(replay, http))

    return asyncio.run(main())
