"""Which errors mean "the database is away" (an infrastructure fault), as opposed to a bad statement or an upstream.

A fault is something waiting fixes: the connection was lost or refused, the server is shutting
down, crashed or is still starting, or the pool found no connection in time. Everything else
(a constraint, a syntax error, a deadlock, an upstream's answer) is not, and is handled as before.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

# admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away or not up yet.
_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})
# Class 08: connection exception (connection failure, unable to establish, ...).
_CONNECTION_CLASS = "08"
# How deep to follow `raise ... from`: a wrapped fault is still a fault (implicit context is not followed:
# an unrelated error raised while handling a fault is that error).
_CHAIN_DEPTH = 5


def _is_fault_itself(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is None:
        # libpq's own errors carry no SQLSTATE: refused, closed, lost or timed-out connections.
        # (An InterfaceError without one is a misuse of the driver, unless the connection is closed.)
        return isinstance(exc, psycopg.OperationalError) or "closed" in str(exc)
    return sqlstate in _SHUTDOWN_STATES or sqlstate.startswith(_CONNECTION_CLASS)


def is_database_fault(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database is unreachable for now, not that the work was wrong."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return False
        if _is_fault_itself(seen):
            return True
        seen = seen.__cause__
    return False
