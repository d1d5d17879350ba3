"""Stream-name grammar and the WebSocket URL forms Binance accepts (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# <symbol>@<type>[@<modifier>...] or an all-market stream such as !ticker_1h@arr.
_STREAM = re.compile(r"^(?:[^\s@/!\"]+|![A-Za-z0-9_]+)@[A-Za-z0-9_]+(?:@[A-Za-z0-9_:+.\-]+)*$")


@dataclass(frozen=True, slots=True)
class Route:
    """What a WebSocket URL asks for."""

    combined: bool
    micros: bool
    streams: list[str]


def is_stream_name(name: object) -> bool:
    """Return whether *name* is a well-formed stream name (it may still deliver nothing)."""
    return isinstance(name, str) and len(name) <= 200 and _STREAM.match(name) is not None


def parse_route(path: str, query: Mapping[str, str]) -> Route | None:
    """Return the route of ``/ws``, ``/ws/<s1>/<s2>``, ``/stream?streams=a/b``; else None."""
    micros = query.get("timeUnit", "").upper() == "MICROSECOND"
    if path in ("/ws", "/ws/"):
        return Route(False, micros, [])
    if path.startswith("/ws/"):
        return Route(False, micros, [s for s in path[4:].split("/") if s])
    if path in ("/stream", "/stream/"):
        names = query.get("streams", "")
        return Route(True, micros, [s for s in names.split("/") if s])
    return None
