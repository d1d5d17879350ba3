"""Benchmark the per-trade pure steps: frame → Tick, Tick → stream fields, fields → batch.

Times, on every trade of both real recordings (frames wrapped as the combined stream sends
them), the CPU nanoseconds per trade of:

- ``parse_frame``: the collector's hot path, one WebSocket frame into a :class:`Tick`;
- ``to_fields``: the stream encoding the collector publishes;
- ``from_fields``: the codec's decode of one stream entry (the writer's first step);
- ``decode_entries``: the writer's whole decode of a batch into ticks and dead letters.

Each figure is the best of ``--repeat`` passes (the least disturbed by other load).
Usage: ``python bench/tick_codec.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.paths import TRADE_RECORDINGS  # noqa: E402
from tests.support.recordings import read_trades  # noqa: E402

from tickvault.codec import from_fields, to_fields  # noqa: E402
from tickvault.tick import Tick  # noqa: E402
from tickvault_collector.frames import parse_frame  # noqa: E402
from tickvault_writer.batch import decode_entries  # noqa: E402

BATCH = 10_000


def best_ns(work: Callable[[], object], count: int, repeat: int) -> float:
    """Return the fewest CPU nanoseconds per item over *repeat* runs of *work*."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time_ns()
        work()
        best = min(best, (time.process_time_ns() - start) / count)
    return best


def main() -> None:
    """Load the recordings, time each step and print ns per trade."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    frames = [t.raw for path in TRADE_RECORDINGS for t in read_trades(path)]
    received = time.time_ns() // 1000
    ticks = [parse_frame(f, received) for f in frames]
    assert all(type(t) is Tick for t in ticks), "every recorded frame is a trade"
    fields = [to_fields(t) for t in ticks if isinstance(t, Tick)]
    entries = [(b"%d-0" % i, f) for i, f in enumerate(fields)]
    batches = [entries[i : i + BATCH] for i in range(0, len(entries), BATCH)]
    n = len(frames)
    figures = {
        "parse_frame": best_ns(lambda: [parse_frame(f, received) for f in frames], n, args.repeat),
        "to_fields": best_ns(lambda: [to_fields(t) for t in ticks], n, args.repeat),  # type: ignore[arg-type]
        "from_fields": best_ns(lambda: [from_fields(f) for f in fields], n, args.repeat),
        "decode_entries": best_ns(lambda: [decode_entries(b) for b in batches], n, args.repeat),
    }
    print(f"{n:,} real trades, best of {args.repeat} passes, CPU ns per trade:")
    for name, ns in figures.items():
        print(f"  {name:<15} {ns:8.0f}")


if __name__ == "__main__":
    main()
