"""tickvault_replay: a Binance-compatible exchange that replays recorded or synthetic trades.

One aiohttp server serves Binance's market-stream WebSocket, the REST market-data endpoints
and a control API under ``/_replay/``. :func:`create_app` builds it; :func:`running_replay`
runs it in-process on a free port for tests; ``tickvault-replay`` runs it from the shell.
"""

from tickvault_replay.app import RunningReplay, create_app, running_replay
from tickvault_replay.config import Limits, ReplayConfig
from tickvault_replay.server import ReplayServer

__all__ = [
    "Limits",
    "ReplayConfig",
    "ReplayServer",
    "RunningReplay",
    "create_app",
    "running_replay",
]
