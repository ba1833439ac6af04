"""How a database error becomes a metric's reason class and a one-line reason."""

from __future__ import annotations

import socket

import pymysql
import pytest

from api.db_errors import describe, error_reason


def _connect_error(host_port: tuple[str, int], timeout: float) -> pymysql.Error:
    try:
        pymysql.connect(
            host=host_port[0], port=host_port[1], connect_timeout=timeout, read_timeout=timeout
        )
    except pymysql.Error as exc:
        return exc
    raise AssertionError("connected")


def test_refused_connection_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        assert error_reason(_connect_error(("127.0.0.1", port), 1)) == "unreachable"


def test_silent_server_is_a_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # accepts, never greets: the handshake read times out
        assert error_reason(_connect_error(sock.getsockname(), 0.2)) == "timeout"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (pymysql.err.OperationalError(1045, "Access denied for user"), "access_denied"),
        (pymysql.err.OperationalError(1044, "Access denied to database"), "access_denied"),
        (pymysql.err.OperationalError(1142, "SELECT command denied"), "access_denied"),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), "unreachable"),
        (pymysql.err.OperationalError(2013, "Lost connection during query"), "unreachable"),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), "unreachable"),
        (pymysql.err.OperationalError(1049, "Unknown database 'visits'"), "other"),
        (pymysql.err.InternalError("Packet sequence number wrong"), "other"),
    ],
)
def test_error_reasons_come_from_the_code(error: pymysql.Error, reason: str) -> None:
    assert error_reason(error) == reason


def test_lost_connection_that_timed_out_is_a_timeout() -> None:
    # PyMySQL raises this inside its handler of the socket's TimeoutError.
    error = pymysql.err.OperationalError(2013, "Lost connection to MySQL server (timed out)")
    error.__context__ = TimeoutError("timed out")
    assert error_reason(error) == "timeout"


def test_error_description_is_one_line() -> None:
    error = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db'\n(timed out)")
    assert describe(error) == "Can't connect to MySQL server on 'db' (timed out) (error 2003)"
