"""What a database error means: a one-line description safe to show a
client, and a reason class (one of a small fixed set) for the metrics."""

from __future__ import annotations

import pymysql
from pymysql.constants import CR, ER

# Database errors, by what an operator does about them.
UNREACHABLE, TIMEOUT, ACCESS_DENIED, OTHER = "unreachable", "timeout", "access_denied", "other"
ERROR_REASONS = (UNREACHABLE, TIMEOUT, ACCESS_DENIED, OTHER)
_UNREACHABLE_CODES = frozenset(
    {
        CR.CR_CONNECTION_ERROR,
        CR.CR_CONN_HOST_ERROR,
        CR.CR_SERVER_GONE_ERROR,
        CR.CR_SERVER_LOST,
        CR.CR_SERVER_LOST_EXTENDED,
        ER.SERVER_SHUTDOWN,
    }
)
_ACCESS_DENIED_CODES = frozenset(
    {
        ER.DBACCESS_DENIED_ERROR,
        ER.ACCESS_DENIED_ERROR,
        ER.TABLEACCESS_DENIED_ERROR,
        ER.COLUMNACCESS_DENIED_ERROR,
        ER.SPECIFIC_ACCESS_DENIED_ERROR,
    }
)


def describe(exc: pymysql.Error) -> str:
    """A one-line reason that is safe to show: the server's message, no traceback.

    MariaDB messages name the user and host at most, never a password.
    """
    if len(exc.args) >= 2 and isinstance(exc.args[1], str):
        return " ".join(f"{exc.args[1]} (error {exc.args[0]})".split())
    return " ".join(str(exc).split()) or type(exc).__name__


def error_reason(error: BaseException) -> str:
    """The reason class of a database error, from its type and code alone."""
    if _timed_out(error):
        return TIMEOUT
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    if code in _ACCESS_DENIED_CODES:
        return ACCESS_DENIED
    if code in _UNREACHABLE_CODES:
        return UNREACHABLE
    return OTHER


def _timed_out(error: BaseException) -> bool:
    # PyMySQL wraps socket errors in OperationalError: a connect keeps the
    # socket's error in original_exception, a read or write chains it.
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        cause = pending.pop()
        if not isinstance(cause, BaseException) or id(cause) in seen:
            continue
        if isinstance(cause, TimeoutError):
            return True
        seen.add(id(cause))
        pending += [cause.__cause__, cause.__context__, getattr(cause, "original_exception", None)]
    return False
