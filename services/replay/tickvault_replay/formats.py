"""Recognise and parse the recording formats in ``shared/data/binance`` (pure, line by line).

* ``ns``: ``<receive_ns> <frame>`` (hftbacktest); frames are combined-stream wrappers, a REST
  depth snapshot has no ``stream`` key and is skipped.
* ``cryptofeed``: a ``wss://... <-> <ts>`` header, ``<ts>: <frame>`` lines and
  ``https://... -> <ts>: <body>`` REST lines (skipped).
* ``jsonl``: one JSON value a line: a combined frame, a raw event or a REST trade object.
* ``csv``: Binance public-data trades, ``id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from tickvault.errors import TickvaultError
from tickvault_replay.model import AggTrade, Trade

_NS_LINE = re.compile(r"^\d{15,} [\[{]")
_CF_LINE = re.compile(r"^\d+(\.\d+)?: [\[{]")
_CSV_LINE = re.compile(r"^\d+,[0-9.]+,[0-9.]+,")
_DATA_KEY = b',"data":'
_MICROS_FROM = 10**14  # a 2025+ archive time has 16 digits: microseconds


class FormatError(TickvaultError, ValueError):
    """A recording line or file that no known format explains."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One recorded market frame: its stream, its exact payload bytes and the parsed object."""

    stream: str
    payload: bytes
    data: dict[str, Any]


def detect(first_line: str) -> str:
    """Return the format name of a recording from its first non-empty line."""
    if first_line.startswith(("wss://", "ws://")) or _CF_LINE.match(first_line):
        return "cryptofeed"
    if _NS_LINE.match(first_line):
        return "ns"
    if first_line.startswith(("{", "[")):
        return "jsonl"
    if _CSV_LINE.match(first_line):
        return "csv"
    raise FormatError(f"unrecognised recording line: {first_line[:80]!r}")


def split_combined(text: bytes) -> Frame | None:
    """Return the frame inside a combined wrapper, keeping ``data`` byte-exact; None if not one."""
    try:
        obj = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise FormatError(f"bad JSON frame: {exc}") from exc
    if not isinstance(obj, dict) or "stream" not in obj or not isinstance(obj.get("data"), dict):
        return None
    data: dict[str, Any] = obj["data"]
    at = text.find(_DATA_KEY)
    payload = text[at + len(_DATA_KEY) : text.rstrip().rfind(b"}")] if at >= 0 else b""
    if not payload or msgspec.json.decode(payload) != data:
        payload = msgspec.json.encode(data)
    return Frame(str(obj["stream"]), payload, data)


def parse_ns(line: str) -> Frame | None:
    """Parse one ``<ns> <frame>`` line."""
    _, _, frame = line.partition(" ")
    return split_combined(frame.encode())


def parse_cryptofeed(line: str) -> Frame | None:
    """Parse one cryptofeed line; headers and REST lines give None."""
    if line.startswith(("wss://", "ws://", "http://", "https://")):
        return None
    _, sep, frame = line.partition(": ")
    if not sep:
        raise FormatError(f"bad cryptofeed line: {line[:80]!r}")
    return split_combined(frame.encode())


def parse_jsonl(line: str, symbol: str | None) -> Frame | Trade | AggTrade | None:
    """Parse one JSON line: a combined frame, a raw event, or a REST trade/aggTrade object."""
    raw = line.encode()
    frame = split_combined(raw)
    if frame is not None:
        return frame
    data = msgspec.json.decode(raw)
    if not isinstance(data, dict):
        return None
    if "e" in data and isinstance(data.get("s"), str):
        return Frame(f"{data['s'].lower()}@{data['e']}", raw.strip(), data)
    if {"u", "s", "b", "a"} <= data.keys():
        return Frame(f"{str(data['s']).lower()}@bookTicker", raw.strip(), data)
    if symbol is None:
        raise FormatError("a REST-shaped trade needs a symbol: use SYMBOL-... or SYMBOL=path")
    if "id" in data and "price" in data:
        return _trade(data, symbol, _REST_TRADE)
    if "a" in data and "f" in data:
        return _agg(data, symbol, _REST_AGG)
    return None


def parse_csv(line: str, symbol: str) -> Trade:
    """Parse one public-data trades CSV row (µs times from 2025 on, ms before)."""
    cells = line.strip().split(",")
    if len(cells) < 6:
        raise FormatError(f"bad trades CSV row: {line[:80]!r}")
    t = _us(int(cells[4]))
    best = cells[6].strip() == "True" if len(cells) > 6 else True
    return Trade(symbol, int(cells[0]), cells[1], cells[2], t, t, cells[5].strip() == "True", best)


def _us(value: int) -> int:
    return value if value >= _MICROS_FROM else value * 1000


# Where each field of a trade sits in a stream event and in a REST row (REST rows have no
# event time: the trade time stands in for it); an aggregate trade has the same fields plus
# its first and last trade ids, ``f`` and ``l`` in both.
_WS_TRADE = ("t", "p", "q", "T", "E", "m", "M")
_REST_TRADE = ("id", "price", "qty", "time", "time", "isBuyerMaker", "isBestMatch")
_WS_AGG = ("a", "p", "q", "T", "E", "m", "M")
_REST_AGG = ("a", "p", "q", "T", "T", "m", "M")


def _trade_values(
    d: dict[str, Any], keys: tuple[str, ...]
) -> tuple[int, str, str, int, int, bool, bool]:
    tid, price, qty, time, event, maker, best = keys
    return (
        int(d[tid]),
        str(d[price]),
        str(d[qty]),
        _us(int(d[time])),
        _us(int(d[event])),
        bool(d[maker]),
        bool(d.get(best, True)),
    )


def _trade(d: dict[str, Any], symbol: str, keys: tuple[str, ...]) -> Trade:
    return Trade(symbol, *_trade_values(d, keys))


def _agg(d: dict[str, Any], symbol: str, keys: tuple[str, ...]) -> AggTrade:
    aid, price, qty, time, event, maker, best = _trade_values(d, keys)
    first, last = int(d["f"]), int(d["l"])
    return AggTrade(symbol, aid, price, qty, first, last, time, event, maker, best)


def trade_from_frame(frame: Frame) -> Trade:
    """Return the trade of a ``trade`` event."""
    return _trade(frame.data, str(frame.data["s"]), _WS_TRADE)


def agg_from_frame(frame: Frame) -> AggTrade:
    """Return the aggregate trade of an ``aggTrade`` event."""
    return _agg(frame.data, str(frame.data["s"]), _WS_AGG)
