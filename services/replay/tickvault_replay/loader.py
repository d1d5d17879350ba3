"""Load recordings from disk into one time-ordered list of market events.

Each file keeps its own line order; files are merged by event time. A symbol recorded only
as trades gets derived aggregates, one recorded only as aggregates gets derived trades
(see ``aggregate``). ``--loop`` passes are shifted copies (see :func:`passes`).
"""

from __future__ import annotations

import gzip
import heapq
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tickvault_replay.aggregate import agg_event, split_agg, trade_event, with_aggs
from tickvault_replay.formats import (
    FormatError,
    Frame,
    agg_from_frame,
    detect,
    parse_cryptofeed,
    parse_csv,
    parse_jsonl,
    parse_ns,
    trade_from_frame,
)
from tickvault_replay.model import AggTrade, Event, Trade

log = logging.getLogger(__name__)

_SYMBOL_IN_NAME = re.compile(r"^([A-Z0-9]{5,})[-_.]")
_UPDATE_KEYS = ("u", "U", "pu", "lastUpdateId")


@dataclass(frozen=True, slots=True)
class Recording:
    """Every event of the recordings, with what a ``--loop`` pass shifts them by."""

    events: list[Event]
    symbols: tuple[str, ...]
    time_span_us: int
    id_spans: dict[str, int]
    agg_spans: dict[str, int]


def parse_spec(spec: str) -> tuple[Path, str | None]:
    """Split ``SYMBOL=path`` (or a bare path, symbol taken from a ``SYMBOL-...`` file name)."""
    head, sep, tail = spec.partition("=")
    if sep and head.isalnum() and head.isupper():
        return Path(tail), head
    path = Path(spec)
    match = _SYMBOL_IN_NAME.match(path.name)
    return path, match.group(1) if match else None


def read_lines(path: Path) -> Iterator[str]:
    """Yield the non-empty lines of a plain or gzipped text file."""
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rt", encoding="utf-8") if gz else path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if line.strip():
                yield line


def _frame_event(frame: Frame, last_us: int) -> Event:
    kind = frame.data.get("e")
    if kind == "trade":
        trade = trade_from_frame(frame)
        return Event(trade.event_us, frame.stream, trade.symbol, frame.payload, trade=trade)
    if kind == "aggTrade":
        agg = agg_from_frame(frame)
        return Event(agg.event_us, frame.stream, agg.symbol, frame.payload, agg=agg)
    when = frame.data.get("E")
    time_us = when * 1000 if isinstance(when, int) else last_us
    symbol = frame.data.get("s")
    if not isinstance(symbol, str):
        symbol = frame.stream.split("@", 1)[0].upper()
    return Event(time_us, frame.stream, symbol, frame.payload)


def load_file(path: Path, symbol: str | None) -> list[Event]:
    """Return the events of one recording in file order."""
    lines = read_lines(path)
    first = next(lines, None)
    if first is None:
        return []
    fmt = detect(first)
    if fmt == "csv" and symbol is None:
        raise FormatError(f"{path}: name the file SYMBOL-trades-... or pass SYMBOL={path}")
    events: list[Event] = []
    last_us = 0
    for number, line in enumerate(_chain(first, lines), 1):
        try:
            item = _parse(fmt, line, symbol)
        except (FormatError, ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"{path}:{number}: {exc}") from exc
        if item is None:
            continue
        if isinstance(item, Frame):
            event = _frame_event(item, last_us)
        elif isinstance(item, Trade):
            event = trade_event(item)
        else:
            event = agg_event(item)
        last_us = max(last_us, event.time_us)
        events.append(event)
    log.info("loaded %s: %d events (%s)", path, len(events), fmt)
    return events


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _parse(fmt: str, line: str, symbol: str | None) -> Frame | Trade | AggTrade | None:
    if fmt == "ns":
        return parse_ns(line)
    if fmt == "cryptofeed":
        return parse_cryptofeed(line)
    if fmt == "jsonl":
        return parse_jsonl(line, symbol)
    assert symbol is not None
    return parse_csv(line, symbol)


def load(specs: list[str]) -> Recording:
    """Load and merge every recording named by *specs*."""
    per_file = [load_file(*parse_spec(spec)) for spec in specs]
    merged = list(heapq.merge(*per_file, key=lambda e: e.time_us))
    traded = {e.symbol for e in merged if e.trade is not None}
    aggregated = {e.symbol for e in merged if e.agg is not None}
    expanded: list[Event] = []
    for event in merged:
        if event.agg is not None and event.symbol not in traded:
            expanded.extend(trade_event(t) for t in split_agg(event.agg))
        expanded.append(event)
    events = list(with_aggs(expanded, traded - aggregated))
    return _describe(events)


def _describe(events: list[Event]) -> Recording:
    ids: dict[str, list[int]] = {}
    aggs: dict[str, list[int]] = {}
    for e in events:
        if e.trade is not None:
            ids.setdefault(e.symbol, []).append(e.trade.id)
        elif e.agg is not None:
            aggs.setdefault(e.symbol, []).append(e.agg.id)
    times = [e.time_us for e in events if e.time_us] or [0]
    symbols = tuple(dict.fromkeys(e.symbol for e in events if e.trade or e.agg))
    return Recording(
        events,
        symbols,
        max(times) - min(times) + 1000,
        {s: max(v) - min(v) + 1 for s, v in ids.items()},
        {s: max(v) - min(v) + 1 for s, v in aggs.items()},
    )


def _shift_generic(payload: bytes, dt_ms: int, du: int) -> bytes:
    data: Any = msgspec.json.decode(payload)
    if not isinstance(data, dict):
        return payload
    for key in ("E", "T"):
        if isinstance(data.get(key), int):
            data[key] += dt_ms
    for key in _UPDATE_KEYS:
        if isinstance(data.get(key), int):
            data[key] += du
    kline = data.get("k")
    if isinstance(kline, dict):
        for key in ("t", "T"):
            if isinstance(kline.get(key), int):
                kline[key] += dt_ms
    return msgspec.json.encode(data)


def shifted(rec: Recording, event: Event, k: int) -> Event:
    """Return *event* as it happens in loop pass *k*: ids and times moved past pass ``k-1``.

    Trade and aggregate payloads are left empty, to be encoded only if someone subscribes.
    """
    dt = rec.time_span_us * k
    t = event.trade
    if t is not None:
        sid = rec.id_spans.get(t.symbol, 0) * k
        trade = Trade(
            t.symbol,
            t.id + sid,
            t.price,
            t.qty,
            t.time_us + dt,
            t.event_us + dt,
            t.buyer_maker,
            t.best_match,
        )
        return Event(event.time_us + dt, event.stream, event.symbol, b"", trade=trade)
    a = event.agg
    if a is not None:
        sid = rec.id_spans.get(a.symbol, 0) * k
        agg = AggTrade(
            a.symbol,
            a.id + rec.agg_spans.get(a.symbol, 0) * k,
            a.price,
            a.qty,
            a.first_id + sid,
            a.last_id + sid,
            a.time_us + dt,
            a.event_us + dt,
            a.buyer_maker,
            a.best_match,
        )
        return Event(event.time_us + dt, event.stream, event.symbol, b"", agg=agg)
    du = 10**9 * k
    return Event(
        event.time_us + dt,
        event.stream,
        event.symbol,
        _shift_generic(event.payload, dt // 1000, du),
    )


def passes(rec: Recording, loop: bool) -> Iterator[Event]:
    """Yield the recording once, or forever with each pass shifted past the previous one."""
    yield from rec.events
    k = 1
    while loop and rec.events:
        for event in rec.events:
            yield shifted(rec, event, k)
        k += 1
