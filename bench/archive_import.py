"""The ``import`` step of ``make bench``: ``tickvault import`` against plain COPY of the same rows.

    python bench/archive_import.py [--days 2] [--rate 5]

The replay exchange serves ``--days`` daily files of one synthetic symbol at ``--rate``
trades a second (5: 432,000 trades a day). Measured in one run, on one private PostgreSQL:

- ``import_bare_rows_per_s``: reading the same zips as the import does (unzip, CSV parse,
  checks, the COPY stream, candles and levels), no storage (the ceiling of the Python side);
- ``import_copy_rows_per_s``: a plain text ``COPY trades FROM STDIN`` of the same rows, from a
  CSV prepared beforehand, partitions made beforehand (the ceiling of PostgreSQL's side);
- ``import_rows_per_s``: the real ``python -m tickvault_writer.archive`` (download, checksum,
  parse, binary COPY through the writer's store with candles and price levels, continuity
  and bounds over REST) into a fresh database, wall clock; ``import_rss_mb_max`` its peak
  RSS (with any child process's added).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from tests.private_servers import PrivatePostgres  # noqa: E402

from common import archive_replay, import_env, rss_mb  # noqa: E402

SYMBOL = "BTCUSDT"


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _zips(base: str, days: list[str], folder: Path) -> list[Path]:
    paths = []
    for d in days:
        url = f"{base}/data/spot/daily/trades/{SYMBOL}/{SYMBOL}-trades-{d}.zip"
        path = folder / f"{d}.zip"
        with urllib.request.urlopen(url, timeout=600) as resp, path.open("wb") as out:
            out.write(resp.read())
        paths.append(path)
    return paths


def _bare(zips: list[Path]) -> tuple[int, float, list[Any]]:
    """Read the zips as the import does, no storage; return (rows, seconds, ticks)."""
    from tickvault_writer.archive.chunks import FileShape, chunks

    started = time.perf_counter()
    rows = 0
    blocks: list[Any] = []
    for path in zips:
        for chunk in chunks(path, SYMBOL, 0, FileShape()):
            rows += len(chunk.rows)
            blocks.append(chunk.rows)
    seconds = time.perf_counter() - started
    return rows, seconds, [tick for block in blocks for tick in block.ticks()]


def _copy(url: str, ticks: list[Any]) -> float:
    """Return the seconds of a plain text COPY of *ticks* into trades (partitions ready)."""
    import psycopg2

    from tickvault.db import migrate
    from tickvault.db.engine import libpq_dsn, make_engine
    from tickvault.db.partitions import TRADES, ensure_partitions
    from tickvault.tick import us_to_datetime

    migrate.upgrade(url)
    engine = make_engine(url)
    hours = {us_to_datetime(t.trade_time - t.trade_time % 3_600_000_000) for t in ticks}
    with engine.begin() as conn:
        ensure_partitions(conn, TRADES, sorted(hours))
    engine.dispose()
    buf = io.StringIO()
    for t in ticks:
        when = us_to_datetime(t.trade_time).isoformat()
        buf.write(
            f"{t.symbol},{t.price},{t.quantity},{when},{t.trade_id},{when},{t.is_buyer_maker},{when}\n"
        )
    data = buf.getvalue()
    conn = psycopg2.connect(libpq_dsn(url))
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.copy_expert(
            "COPY trades (symbol, price, quantity, trade_time, trade_id, event_time,"
            " is_buyer_maker, received_at) FROM STDIN (FORMAT csv)",
            io.StringIO(data),
        )
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def run_import(pg: PrivatePostgres, days: int = 2, rate: float = 5.0) -> dict[str, Any]:
    """Measure the import step; return its figures."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days + 1)
    names = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    with (
        archive_replay([SYMBOL], first, rate) as replay,
        tempfile.TemporaryDirectory(prefix="tvbench-import-") as tmp,
    ):
        zips = _zips(replay.rest_url, names, Path(tmp))  # also builds them: not timed below
        rows, bare_s, ticks = _bare(zips)
        copy_s = _copy(_new_db(pg, "copy"), ticks)
        del ticks
        url = _new_db(pg, "import")
        from tickvault.db import migrate

        migrate.upgrade(url)
        env = import_env(url, replay)
        argv = [
            sys.executable,
            "-m",
            "tickvault_writer.archive",
            SYMBOL,
            "--from",
            names[0],
            "--to",
            names[-1],
            "--json",
        ]
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peaks: dict[int, float] = {}  # the import and its parsing worker, each at its peak
        while proc.poll() is None:
            for pid in (proc.pid, *_children(proc.pid)):
                peaks[pid] = max(peaks.get(pid, 0.0), rss_mb(pid, "VmHWM"))
            time.sleep(0.2)
        peak = sum(peaks.values())
        import_s = time.perf_counter() - started
        _out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"import exited {proc.returncode}: {err.decode()[-2000:]}")
    return {
        "import_rows": rows,
        "import_rows_per_s": round(rows / import_s),
        "import_copy_rows_per_s": round(rows / copy_s),
        "import_bare_rows_per_s": round(rows / bare_s),
        "import_vs_copy": round((rows / import_s) / (rows / copy_s), 3),
        "import_rss_mb_max": round(peak, 1),
    }


def _new_db(pg: PrivatePostgres, name: str) -> str:
    db = f"tv_import_{name}_{int(time.time())}"
    pg.query(f'CREATE DATABASE "{db}"')
    return pg.url(db)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--rate", type=float, default=5.0)
    args = p.parse_args()
    with PrivatePostgres() as pg:
        figures = run_import(pg, args.days, args.rate)
    for key, value in figures.items():
        print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
