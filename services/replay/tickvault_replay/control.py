"""Live control messages (SUBSCRIBE and friends): request in, Binance's response out (pure).

Error bodies are nested as Binance sends them: ``{"error":{"code":2,"msg":...},"id":...}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tickvault_replay.streams import is_stream_name

_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_TEXT = re.compile(r"^[A-Za-z0-9]{1,36}$")
_ID_UUID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_INT64 = (-(2**63), 2**63 - 1)
_NO_ID = object()
_AT_BYTE = re.compile(r"\(byte (\d+)\)")


@dataclass(slots=True)
class Reply:
    """The response to send and the subscription changes to make."""

    body: bytes
    subscribe: list[str] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    combined: bool | None = None


def _error(code: int, msg: str, request_id: Any = _NO_ID) -> Reply:
    body: dict[str, Any] = {"error": {"code": code, "msg": msg}}
    if request_id is not _NO_ID:
        body["id"] = request_id
    return Reply(msgspec.json.encode(body))


def _ok(result: Any, request_id: Any) -> Reply:
    return Reply(msgspec.json.encode({"result": result, "id": request_id}))


def _column(text: bytes | str, exc: Exception) -> int:
    """Return the 1-based column (in characters) where decoding *text* failed."""
    raw = text.encode() if isinstance(text, str) else text
    found = _AT_BYTE.search(str(exc))  # msgspec says "(byte N)"; a truncated text, nothing
    at = int(found.group(1)) if found else len(raw)
    return len(raw[:at].decode("utf-8", "replace")) + 1


def valid_id(value: Any, strict: bool) -> bool:
    """Return whether *value* is an accepted request id (int64, short string, or null)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return _INT64[0] <= value <= _INT64[1]
    if isinstance(value, str):
        return (_ID_TEXT if strict else _ID_UUID).match(value) is not None
    return False


def handle(
    text: bytes | str,
    streams: dict[str, None],
    combined: bool,
    *,
    max_streams: int,
    strict_ids: bool = False,
) -> Reply:
    """Answer one control message given the connection's streams and ``combined`` property."""
    try:
        request = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:
        return _error(3, f"Invalid JSON: expected value at line 1 column {_column(text, exc)}")
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected a JSON object")
    if "method" not in request:
        return _error(
            2,
            f"Invalid request: missing field `method` at line 1 column {len(text)}",
            request.get("id", _NO_ID),
        )
    request_id = request.get("id", _NO_ID)
    if request_id is _NO_ID or not valid_id(request_id, strict_ids):
        return _error(2, "Invalid request: request ID must be an unsigned integer")
    method = request["method"]
    if method not in _METHODS:
        expected = ", ".join(f"`{m}`" for m in _METHODS)
        return _error(
            2,
            f"Invalid request: unknown variant `{method}`, expected one of "
            f"{expected} at line 1 column 28",
            request_id,
        )
    params = request.get("params", [])
    if not isinstance(params, list):
        return _error(2, "Invalid request: invalid type: expected a sequence", request_id)
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        return _subscription(method, params, request_id, streams, max_streams)
    if method == "LIST_SUBSCRIPTIONS":
        if params:
            return _error(2, "Invalid request: too many parameters", request_id)
        return _ok(list(streams), request_id)
    return _property(method, params, request_id, combined)


def _subscription(
    method: str, params: list[Any], request_id: Any, streams: dict[str, None], max_streams: int
) -> Reply:
    if not all(is_stream_name(p) for p in params):
        return _error(2, "Invalid request: invalid stream", request_id)
    names = list(dict.fromkeys(params))
    if method == "UNSUBSCRIBE":
        reply = _ok(None, request_id)
        reply.unsubscribe = [n for n in names if n in streams]
        return reply
    new = [n for n in names if n not in streams]
    if max_streams and len(streams) + len(new) > max_streams:
        return _error(2, "Invalid request: too many streams", request_id)
    reply = _ok(None, request_id)
    reply.subscribe = new
    return reply


def _property(method: str, params: list[Any], request_id: Any, combined: bool) -> Reply:
    wanted = 2 if method == "SET_PROPERTY" else 1
    if len(params) > wanted:
        return _error(2, "Invalid request: too many parameters", request_id)
    if not params or not isinstance(params[0], str):
        return _error(2, "Invalid request: property name must be a string", request_id)
    if params[0] != "combined":
        return _error(0, "Unknown property", request_id)
    if method == "GET_PROPERTY":
        return _ok(combined, request_id)
    if len(params) < 2 or not isinstance(params[1], bool):
        return _error(1, "Invalid value type: expected Boolean", request_id)
    reply = _ok(None, request_id)
    reply.combined = params[1]
    return reply
