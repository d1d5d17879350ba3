"""Schemathesis hooks of the API's schemathesis test (loaded with ``SCHEMATHESIS_HOOKS``).

Schemathesis's ``positive_data_acceptance`` expects every request the document allows to be
accepted. A few rules join two values and no OpenAPI schema can state them; docs/API.md states
them in words, and their answers name them: ``invalid_range`` (start not before end),
``range_too_large`` (a window or a count of candles above the maximum) and a ``cursor`` this
API did not return. :func:`positive_data_accepted_but_for_cross_field_rules` is that check
with exactly these answers allowed; every other rejection of a schema-valid request fails.
"""

from __future__ import annotations

import json

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

CROSS_FIELD_CODES = frozenset({"invalid_range", "range_too_large"})
CURSOR_MESSAGE = "parameter 'cursor' is not a cursor this API returned"


def _is_cross_field(response: schemathesis.Response) -> bool:
    if response.status_code != 400:
        return False
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return error.get("code") in CROSS_FIELD_CODES or error.get("message") == CURSOR_MESSAGE


@schemathesis.check
def positive_data_accepted_but_for_cross_field_rules(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """``positive_data_acceptance``, but for the rules no schema can state."""
    if _is_cross_field(response):
        return None
    return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]
