"""Schemathesis against the API under Gunicorn, with every check it has.

The ``st`` command runs all its checks and all its phases (the schema's examples, coverage
of each parameter's edges, unsupported methods, fuzzing) against ``tickvault-api`` serving
both real recordings, and must find nothing. ``positive_data_acceptance`` runs as
:mod:`tests.integration.api.schemathesis_hooks` words it: the few rules no schema can state
are allowed, nothing else. Then each operation is asked a few valid questions, which must
answer 200 and conform to the document too. ``TICKVAULT_SCHEMATHESIS_EXAMPLES`` sets the
examples per operation (400 when ``CI`` is set, else 100).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import CHECKS
from tests.support.api_server import load_recordings, running_api

EXAMPLES = int(
    os.environ.get("TICKVAULT_SCHEMATHESIS_EXAMPLES", "400" if os.environ.get("CI") else "100")
)
ST = Path(sys.executable).with_name("st")
ROOT = Path(__file__).resolve().parents[3]
HOOKS = "tests.integration.api.schemathesis_hooks"
W = {"start": "2024-08-08T23:59:00Z", "end": "2024-08-09T00:02:00Z"}
VALID: dict[str, list[dict[str, object]]] = {
    "/api/v1/prices/{symbol}/at": [
        {"time": "2024-08-09T00:00:00Z"},
        {"time": "1723161600123", "match": "nearest"},
    ],
    "/api/v1/prices/{symbol}/history": [{**W, "limit": "50"}, {**W, "format": "csv"}],
    "/api/v1/prices/{symbol}/range": [
        {"minute": "2024-08-09T00:01"},
        W,
        {"end": W["end"]},
        {"minute": "2024-08-09T00:01", "start": "2024-08-09T00:01:30Z"},
    ],
    "/api/v1/prices/{symbol}/stats": [W, {}, {"start": W["start"]}, {"end": W["end"]}],
    "/api/v1/prices/{symbol}/candles": [{**W, "interval": "1s"}, {**W, "interval": "5m"}],
    "/api/v1/gaps": [{}, {"symbol": "ethusdt"}, {"symbol": ""}],
}


@pytest.fixture
def api_base(
    new_database: Callable[[], str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    url = new_database()
    load_recordings(url, redis_url, redis_prefix, [])
    settings = {
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_API_WORKERS": "2",
        "TICKVAULT_API_THREADS": "4",
        "TICKVAULT_API_CACHE_TTL_SECONDS": "30",
    }
    with running_api(tmp_path, settings) as base:
        yield base


@pytest.mark.timeout(900)  # 400 examples per operation (CI): about 130 s here
def test_every_schemathesis_check_passes_under_gunicorn(api_base: str, tmp_path: Path) -> None:
    # The live stream never ends by design; its own tests cover it.
    run = subprocess.run(
        [
            str(ST),
            "run",
            f"{api_base}/openapi.json",
            "--checks",
            "all",
            # replaced by the hooks' positive_data_accepted_but_for_cross_field_rules
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            str(EXAMPLES),
            "--exclude-path",
            "/api/v1/stream",
            "--seed",
            os.environ.get("TICKVAULT_SCHEMATHESIS_SEED", "24"),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=850,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    assert "Tested: 11" in report, report[-3000:]


def test_valid_requests_answer_200_and_conform_under_gunicorn(api_base: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_base}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path != "/api/v1/stream"]
    assert len(operations) == 11
    checks = CHECKS.get_all()
    for operation in operations:
        for query in VALID.get(operation.path, [{}]):
            path = {"symbol": "btcusdt"} if "{symbol}" in operation.path else {}
            case = operation.Case(path_parameters=path, query=query)
            response = case.call_and_validate(checks=checks)
            assert response.status_code == 200, (operation.label, query, response.text[:300])
