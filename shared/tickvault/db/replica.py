"""Reading from a streaming standby: how far behind it is, and which failures mean "ask again".

A standby replays its primary's WAL. :func:`replica_state` says whether the server a
connection reached is a standby and how many seconds of the primary's commits it has not yet
replayed (0 when it has replayed everything it received, so an idle primary does not look
like lag). :func:`is_recovery_conflict` recognises a query the standby cancelled because
replaying WAL needed what the query was reading ("canceling statement due to conflict with
recovery"): the same query succeeds when asked again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

SERIALIZATION_FAILURE = "40001"  # what a standby's recovery conflict cancels a query with
DATABASE_DROPPED = "57P04"
_CONFLICT = "conflict with recovery"

_STATE = text(
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    " ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))"
    " END"
)


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """Where a connection landed, and how far behind its primary that server is."""

    standby: bool
    lag_seconds: float | None  # None: a standby that has replayed nothing yet


def replica_state(conn: Connection) -> ReplicaState:
    """Return whether *conn*'s server is a standby, and its replay lag in seconds."""
    standby, lag = conn.execute(_STATE).one()
    return ReplicaState(bool(standby), None if lag is None else float(lag))


def is_recovery_conflict(exc: BaseException) -> bool:
    """Return whether *exc* (a SQLAlchemy or psycopg2 error) is a standby's recovery conflict."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "pgcode", None)
    return code in (SERIALIZATION_FAILURE, DATABASE_DROPPED) and _CONFLICT in str(orig)
