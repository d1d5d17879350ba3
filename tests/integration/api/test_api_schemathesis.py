"""Schemathesis against /openapi.json, in process (WSGI): no 5xx, every answer per schema."""

from __future__ import annotations

import os
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tickvault_api import create_app
from tickvault_api.settings import ApiSettings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("TICKVAULT_SCHEMATHESIS_EXAMPLES", "40"))
W = {"start": "2024-08-08T23:59:00Z", "end": "2024-08-09T00:02:00Z"}
VALID: dict[str, list[dict[str, object]]] = {
    "/api/v1/prices/{symbol}/at": [
        {"time": "2024-08-09T00:00:00Z"},
        {"time": "1723161600123", "match": "nearest"},
    ],
    "/api/v1/prices/{symbol}/history": [{**W, "limit": "50"}, {**W, "format": "csv"}],
    "/api/v1/prices/{symbol}/range": [{"minute": "2024-08-09T00:01"}, W],
    "/api/v1/prices/{symbol}/stats": [W, {}],
    "/api/v1/prices/{symbol}/candles": [{**W, "interval": "1s"}, {**W, "interval": "5m"}],
    "/api/v1/gaps": [{}, {"symbol": "ethusdt"}],
}


def test_generated_requests_get_no_5xx_and_conform_to_the_schema(
    api_settings: Callable[..., ApiSettings], client: object
) -> None:
    app = create_app(api_settings(api_cache_ttl_seconds=30))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # The live stream never ends by design; its own test covers it.
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path != "/api/v1/stream"]
    assert len(operations) == 11
    answered: dict[str, set[int]] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=CHECKS)
            answered.setdefault(case.operation.label, set()).add(response.status_code)

        run()
        for query in VALID.get(operation.path, [{}]):
            path = {"symbol": "btcusdt"} if "{symbol}" in operation.path else {}
            case = operation.Case(path_parameters=path, query=query)
            response = case.call_and_validate(checks=CHECKS)
            answered.setdefault(operation.label, set()).add(response.status_code)
    # Valid requests were checked too, not only the errors random ones mostly get.
    assert {label for label, codes in answered.items() if 200 in codes} == {
        op.label for op in operations
    }, answered
    app.extensions["tickvault"].stores.close()
