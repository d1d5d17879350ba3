"""The tickvault exception hierarchy: every error tickvault raises on purpose is a
:class:`TickvaultError`.

The classes below are shared by every service; a service defines its own subclasses next to
the code that raises them (named with their module). Only a module-private exception that
never leaves its module may stand outside the tree.

::

    TickvaultError
    ├── ConfigError              bad configuration; the process exits with status 2
    │   └── UniverseError        tickvault_replay.universe: an unusable --universe file
    ├── CodecError               a stream entry that cannot be decoded (dead-lettered)
    ├── FrameError               a Binance frame or REST body that cannot be parsed
    ├── InvalidTick              a trade breaking an invariant of Tick (also a ValueError)
    ├── ExchangeError            Binance (or the replay exchange) answered with an error
    ├── StoreUnavailable         Redis or PostgreSQL cannot be reached right now
    │   └── ColdUnavailable      tickvault.cold.storage: the cold tier's directory or store failed
    ├── ColdFormatError          tickvault.cold.parquet: trades Parquet cannot keep exactly
    ├── ColdVerifyError          tickvault.cold.store: a cold file read back differs from the rows
    ├── LeaseLost                a lease expired or passed on while its work ran
    ├── StreamFull               tickvault_collector.append: the stream's backlog is full
    ├── QueryFailed              tickvault.cli.query: the API refused or could not answer
    ├── AuditStopped             tickvault_collector.gaps.audit: the audit was asked to stop
    ├── CannotPrepare            tickvault_writer.prepare: a batch cannot take the fast path
    ├── RowsRefused              tickvault_writer.store: PostgreSQL refused a batch's data
    ├── ApiError                 tickvault_api.errors: an API error answer (its own tree)
    ├── BinanceError             tickvault_replay.params: a Binance-style error answer
    ├── FaultError               tickvault_replay.faults: a fault script that cannot run
    └── FormatError              tickvault_replay.formats: a recording line that cannot be read
"""

from __future__ import annotations


class TickvaultError(Exception):
    """Base class of every error tickvault raises on purpose."""


class ConfigError(TickvaultError):
    """Configuration is invalid; the message names the variable."""


class CodecError(TickvaultError):
    """A Redis Stream entry does not hold a valid tick or gap record."""


class FrameError(TickvaultError):
    """A WebSocket frame is not a valid Binance payload."""


class InvalidTick(TickvaultError, ValueError):
    """A trade's fields break an invariant of :class:`~tickvault.tick.Tick`.

    A ``ValueError`` too, so msgspec reports it as a validation error when it builds one.
    """


class ExchangeError(TickvaultError):
    """The exchange answered a request with an error."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def refused(self) -> bool:
        """Return whether the exchange refused the request itself (a 4xx): asking again is
        no use."""
        return self.status is not None and 400 <= self.status < 500


class StoreUnavailable(TickvaultError):
    """A backing store (Redis or PostgreSQL) cannot be reached."""


class LeaseLost(TickvaultError):
    """A lease could not be kept while its work ran; the work was stopped."""
