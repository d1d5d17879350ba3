"""Turn raw stream entries into a batch: decoded ticks, gap records and dead letters.

Pure: no I/O. Decoding goes through :func:`tickvault.codec.from_fields` only, and a tick it
returns has passed the :class:`~tickvault.tick.Tick` constructor's checks (a plausible time,
an id that fits ``bigint``, a symbol fit for a Redis key). A gap record must fit the database
too, or it would fail a whole batch later instead of alone now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from tickvault.codec import GapRecord, GapStatus, from_fields
from tickvault.errors import CodecError
from tickvault.tick import MAX_TRADE_ID, Tick, is_plausible_time_us, is_symbol
from tickvault_writer.prepare import CannotPrepare, Prepared, prepare

RawFields = Mapping[bytes, bytes]
RawEntry = tuple[bytes, RawFields | None]

_GAP_RANK = {GapStatus.DETECTED: 0, GapStatus.UNFILLABLE: 1, GapStatus.FILLED: 2}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A stream entry that cannot be stored, with the reason why."""

    entry_id: bytes
    fields: RawFields
    reason: str


@dataclass(frozen=True, slots=True)
class Batch:
    """What one read of the stream holds, decoded."""

    ids: tuple[bytes, ...]  # every entry id, to acknowledge once the batch is stored
    ticks: tuple[Tick, ...]
    tick_ids: tuple[bytes, ...]  # entry id of each tick, same order
    gaps: tuple[GapRecord, ...]
    gap_ids: tuple[bytes, ...]  # entry id of each gap record, same order
    dead: tuple[DeadLetter, ...]
    prepared: Prepared | None = None  # the ticks made ready for the fast path, when done
    deleted: int = 0  # entries gone from the stream while pending: lost, to be refilled

    @property
    def has_rows(self) -> bool:
        """Return whether the batch holds anything for PostgreSQL."""
        return bool(self.ticks or self.gaps)


def check_gap(gap: GapRecord) -> str | None:
    """Return why *gap* cannot be stored, or None when it can."""
    if not is_symbol(gap.symbol):
        return f"symbol {gap.symbol!r} is not an upper-case Binance symbol"
    if gap.first_id < 0 or gap.last_id > MAX_TRADE_ID:
        return f"gap {gap.first_id}..{gap.last_id} is out of range"
    for value in (gap.detected_at, gap.filled_at):
        if value is not None and not is_plausible_time_us(value):
            return f"time {value} is not a plausible epoch-microsecond time"
    return None


def decode_entries(entries: Iterable[RawEntry]) -> Batch:
    """Decode stream entries; entries deleted from the stream are only acknowledged."""
    ids: list[bytes] = []
    ticks: list[Tick] = []
    tick_ids: list[bytes] = []
    gaps: list[GapRecord] = []
    gap_ids: list[bytes] = []
    dead: list[DeadLetter] = []
    deleted = 0
    for entry_id, fields in entries:
        ids.append(entry_id)
        if fields is None:  # deleted from the stream while pending: nothing left to store
            deleted += 1
            continue
        try:
            value = from_fields(fields)
        except CodecError as exc:
            dead.append(DeadLetter(entry_id, fields, str(exc)))
            continue
        if isinstance(value, Tick):
            ticks.append(value)
            tick_ids.append(entry_id)
            continue
        reason = check_gap(value)
        if reason is None:
            gaps.append(value)
            gap_ids.append(entry_id)
        else:
            dead.append(DeadLetter(entry_id, fields, reason))
    return Batch(
        tuple(ids),
        tuple(ticks),
        tuple(tick_ids),
        tuple(gaps),
        tuple(gap_ids),
        tuple(dead),
        deleted=deleted,
    )


def with_prepared(batch: Batch) -> Batch:
    """Return the batch with its ticks prepared for the fast path."""
    if not batch.ticks:
        return batch
    try:
        return replace(batch, prepared=prepare(batch.ticks))
    except CannotPrepare:
        return batch  # the store takes the fallback path


def latest_by_symbol(ticks: Iterable[Tick]) -> dict[str, Tick]:
    """Return the tick with the highest trade id of each symbol."""
    best: dict[str, Tick] = {}
    for tick in ticks:
        current = best.get(tick.symbol)
        if current is None or tick.trade_id > current.trade_id:
            best[tick.symbol] = tick
    return best


def merge_gaps(gaps: Sequence[GapRecord]) -> list[GapRecord]:
    """Merge records of the same gap into one, keeping the most advanced status.

    PostgreSQL refuses to upsert one row twice in a statement, so duplicates must go first.
    The result is sorted by key, so concurrent writers lock gap rows in the same order.
    """
    merged: dict[tuple[str, int, int], GapRecord] = {}
    for gap in gaps:
        key = (gap.symbol, gap.first_id, gap.last_id)
        seen = merged.get(key)
        if seen is None:
            merged[key] = gap
            continue
        best = gap if _GAP_RANK[gap.status] > _GAP_RANK[seen.status] else seen
        merged[key] = replace(best, detected_at=min(seen.detected_at, gap.detected_at))
    return [merged[key] for key in sorted(merged)]


def split(batch: Batch) -> tuple[Batch, Batch] | None:
    """Split a batch's rows in two (to isolate a row the database refuses); None when atomic."""
    ticks, tids, gaps, gids = batch.ticks, batch.tick_ids, batch.gaps, batch.gap_ids
    if len(ticks) >= 2:
        h = len(ticks) // 2
        return (
            Batch((), ticks[:h], tids[:h], gaps, gids, ()),
            Batch((), ticks[h:], tids[h:], (), (), ()),
        )
    if ticks and gaps:
        return Batch((), ticks, tids, (), (), ()), Batch((), (), (), gaps, gids, ())
    if len(gaps) >= 2:
        h = len(gaps) // 2
        return (
            Batch((), (), (), gaps[:h], gids[:h], ()),
            Batch((), (), (), gaps[h:], gids[h:], ()),
        )
    return None
