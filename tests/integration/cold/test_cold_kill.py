"""``tickvault cold move`` killed at any moment loses and doubles nothing, and the next run
finishes the move (and deletes whatever file the killed one left unlisted)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pyarrow.dataset as ds
from sqlalchemy import Engine
from tests.integration.cold.conftest import ColdTier
from tests.support.cli import tickvault_script
from tests.support.db import rows
from tests.support.recordings import RecordedTrade

from tickvault.cold import storage

# When to kill a run: once the counts of noted files (being written) and listed files have
# grown by this much since the run started, and then this long after (s). Together they land
# while a file is written, while it is verified, between a day's files, and after a commit.
KILL_POINTS = (
    (1, 0, 0.0),
    (1, 0, 0.05),
    (2, 0, 0.0),
    (2, 0, 0.02),
    (0, 1, 0.0),
    (1, 0, 0.1),
    (0, 1, 0.01),
)
POLL_S = 0.005


def _env(url: str, tier: ColdTier) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TICKVAULT_", "AWS_"))}
    return (
        clean
        | tier.aws
        | {
            "TICKVAULT_DATABASE_URL": url,
            "TICKVAULT_COLD_URL": tier.url,
            "TICKVAULT_RETENTION_HOURS": "24",
        }
    )


def _counts(engine: Engine) -> tuple[int, int]:
    noted, listed = rows(
        engine, "SELECT (SELECT count(*) FROM cold_orphans), (SELECT count(*) FROM cold_files)"
    )[0]
    return int(noted), int(listed)


def _listed_ids(engine: Engine, tier: ColdTier) -> list[int]:
    ids: list[int] = []
    for (path,) in rows(engine, "SELECT path FROM cold_files"):
        ids += storage.read_file(tier.location, path)["trade_id"].to_pylist()
    return ids


def _check_nothing_lost_or_doubled(engine: Engine, tier: ColdTier, every: set[Any]) -> None:
    hot = [r[0] for r in rows(engine, "SELECT trade_id FROM trades")]
    cold = _listed_ids(engine, tier)
    assert len(hot) + len(cold) == len(every)
    assert set(hot) | set(cold) == every


def test_a_move_killed_at_any_moment_resumes_without_losing_or_doubling_a_trade(
    loaded_db: tuple[str, Engine],
    cold_tier: ColdTier,
    recorded: dict[str, list[RecordedTrade]],
) -> None:
    url, engine = loaded_db
    every = {t.trade_id for trades in recorded.values() for t in trades}
    env = _env(url, tier=cold_tier)
    argv = [tickvault_script(), "cold", "move"]
    killed = 0
    for more_noted, more_listed, after in KILL_POINTS:
        noted0, listed0 = _counts(engine)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            noted, listed = _counts(engine)
            if noted >= noted0 + more_noted and listed >= listed0 + more_listed:
                time.sleep(after)
                break
            time.sleep(POLL_S)
        if proc.poll() is None:
            proc.kill()
            killed += 1
        proc.wait(30)
        _check_nothing_lost_or_doubled(engine, cold_tier, every)
    assert killed >= 3  # most runs died mid-move, not after finishing it
    done = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    _check_nothing_lost_or_doubled(engine, cold_tier, every)
    assert rows(engine, "SELECT count(*) FROM trades") == [(0,)]
    # Whatever the killed runs wrote and never listed is gone: a plain reader of the layout
    # sees each trade once.
    location = cold_tier.location
    dataset = ds.dataset(
        f"{location.root}/trades",
        format="parquet",
        partitioning="hive",
        filesystem=location.filesystem,
    )
    ids = dataset.to_table(columns=["trade_id"])["trade_id"].to_pylist()
    assert sorted(ids) == sorted(every)
    assert rows(engine, "SELECT count(*) FROM cold_orphans") == [(0,)]
