"""A view's documented contract in one decorator: rule, query, body and error statuses.

Every JSON view of the API is registered through :func:`documented`, so what
``/openapi.json`` says of a view (its path parameter, query schema, body, the statuses it
may answer with the error envelope) is stated once, next to the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flask_smorest import Blueprint
from marshmallow import Schema

from tickvault_api import schemas

View = Callable[..., Any]
_CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


class Route(NamedTuple):
    """A view answered by a function of the request's query and path: what
    :func:`documented` needs of it (the answer's docstring is the OpenAPI summary)."""

    rule: str
    query: type[Schema]
    body: type[Schema]
    answer: View
    csv: bool = False  # answers text/csv too


def documented(
    blp: Blueprint,
    rule: str,
    body: type[Schema],
    *errors: int,
    query: type[Schema] | None = None,
    csv: bool = False,
) -> Callable[[View], View]:
    """Return a decorator that registers a view at *rule* on *blp*, answering *body* (and
    text/csv when *csv*) or the error envelope with one of *errors*. A ``<symbol>`` in the
    rule is the documented symbol parameter; *query*, when given, validates the query string
    (a malformed one is a 400) and is passed to the view as its first argument."""

    def decorate(view: View) -> View:
        for status in errors:
            view = blp.alt_response(status, schema=schemas.ErrorBody)(view)
        if csv:
            view = blp.doc(responses=_CSV)(view)
        view = blp.response(200, body)(view)
        if query is not None:
            view = blp.arguments(query, location="query", error_status_code=400)(view)
        parameters = [schemas.SYMBOL_PARAM] if "<symbol>" in rule else []
        return blp.route(rule, parameters=parameters)(view)  # type: ignore[no-any-return]

    return decorate
