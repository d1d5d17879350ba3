"""The collector's heartbeat value, and the repair backlog of every collector together."""

from __future__ import annotations

from tickvault.heartbeat import CollectorBeat, beat_value, parse_beat, repair_backlog


def test_a_heartbeat_round_trips_and_anything_else_is_none() -> None:
    beat = CollectorBeat(1_800_000_000_000_000, 12, 2000, 35, 4.5)
    assert parse_beat(beat_value(beat)) == beat
    assert parse_beat(b'{"time_us": 5}') == CollectorBeat(5)
    for raw in (None, b"", b"{}", b"[1]", b'{"time_us": "x"}', b"\xff"):
        assert parse_beat(raw) is None


def test_the_backlog_adds_up_calls_and_keeps_the_oldest_gap() -> None:
    beats = [CollectorBeat(1, calls_queued=3, oldest_gap_s=2.0), CollectorBeat(1, 0, 0, 7, 9.5)]
    assert repair_backlog(beats) == {"collectors": 2, "calls_queued": 10, "oldest_gap_s": 9.5}
    assert repair_backlog([]) is None
