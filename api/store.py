"""Visit storage in MariaDB/MySQL.

One connection per worker thread. A connection is checked for a server-side
close before each use (without a round trip), so a request never spends its
visit on a connection the database dropped during an outage.

Visits are group-committed: while one thread of the process is applying
visits, the visits that arrive meanwhile wait and are then applied together,
by one atomic ``count = count + N`` statement followed by one read, and every
waiter gets that read. Under load this turns N increments and N reads into
one of each; a lone visit still goes straight to the database.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Callable
from typing import Protocol, TypeAlias, TypeVar

import pymysql

from api.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    replica    VARCHAR(253) NOT NULL PRIMARY KEY,
    count      BIGINT UNSIGNED NOT NULL,
    first_seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""

# A batch of N visits (N >= 1) is one atomic statement; with autocommit it
# holds the row lock only for its own duration, never across the read that
# follows. Each visit is wholly in exactly one such statement.
RECORD_VISITS = (
    "INSERT INTO visits (replica, count) VALUES (%s, %s) ON DUPLICATE KEY UPDATE count = count + %s"
)

# The documented order: replicas in the order they were first seen, ties
# broken by name, so the list only ever grows at the bottom.
READ_COUNTS = "SELECT replica, count FROM visits ORDER BY first_seen, replica"

T = TypeVar("T")
Connection: TypeAlias = "pymysql.connections.Connection[pymysql.cursors.Cursor]"

# Counts in display order: (replica name, visits).
Counts = list[tuple[str, int]]


class StoreUnavailable(Exception):
    """The database could not be reached or failed; safe to show as a reason."""


class VisitStore(Protocol):
    def record_visit(self, replica: str) -> Counts:
        """Count one visit for ``replica``; return counts that include it."""
        ...

    def counts(self) -> Counts:
        """Every replica's count, counting nothing."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers in time."""
        ...


class _Batch:
    """Visits for one replica waiting to be applied together."""

    __slots__ = ("applied", "error", "replica", "result", "turn", "visits")

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.visits = 0
        self.result: Counts | None = None
        self.error: BaseException | None = None
        # Set for the batch's first visitor when it may apply the batch.
        self.turn = threading.Event()
        # Set once the batch's statement has run, or failed: wakes the rest.
        self.applied = threading.Event()


class MariaDBStore:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local = threading.local()
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        # Group commit: one batch in flight per process at a time; visits that
        # arrive meanwhile join the open batch of their replica. Each batch has
        # its own events, so finishing one wakes only the threads it concerns.
        self._batches_lock = threading.Lock()
        self._open: dict[str, _Batch] = {}
        self._applying = False

    def record_visit(self, replica: str) -> Counts:
        with self._batches_lock:
            batch = self._open.get(replica)
            first = batch is None
            if batch is None:
                batch = self._open[replica] = _Batch(replica)
            batch.visits += 1
            if first and not self._applying:
                self._close(batch)
                batch.turn.set()
        if first:
            # The first visitor applies the batch for everyone in it, once the
            # batch in flight (if any) has finished and handed over.
            batch.turn.wait()
            self._apply(batch)
        else:
            batch.applied.wait()
        if batch.result is None:
            # Each waiter raises its own exception: one object raised in many
            # threads at once would share (and tangle) its traceback.
            if isinstance(batch.error, StoreUnavailable):
                raise StoreUnavailable(str(batch.error))
            raise RuntimeError("recording the visit failed") from batch.error
        return batch.result

    def _close(self, batch: _Batch) -> None:
        """Take ``batch`` out of the open ones: later visits start a new batch.
        Called with the lock held."""
        del self._open[batch.replica]
        self._applying = True

    def _apply(self, batch: _Batch) -> None:
        """Apply a closed batch on this thread's connection, wake its waiters
        and hand over to the oldest open batch.

        On any failure the whole batch fails: nothing is retried, so no visit
        can be applied twice, and every waiter answers 503.
        """

        def run(cursor: pymysql.cursors.Cursor) -> Counts:
            cursor.execute(RECORD_VISITS, (batch.replica, batch.visits, batch.visits))
            cursor.execute(READ_COUNTS)
            return [(name, int(count)) for name, count in cursor.fetchall()]

        try:
            batch.result = self._run(run)
        except Exception as exc:
            batch.error = exc
        finally:
            batch.applied.set()
            with self._batches_lock:
                following = next(iter(self._open.values()), None)
                if following is None:
                    self._applying = False
                else:
                    self._close(following)
            if following is not None:
                following.turn.set()

    def counts(self) -> Counts:
        def run(cursor: pymysql.cursors.Cursor) -> Counts:
            cursor.execute(READ_COUNTS)
            return [(name, int(count)) for name, count in cursor.fetchall()]

        return self._run(run)

    def ping(self) -> None:
        def run(cursor: pymysql.cursors.Cursor) -> None:
            cursor.connection.ping(reconnect=False)

        self._run(run)

    def close(self) -> None:
        """Close this thread's connection, if any."""
        self._discard()

    def _run(self, operation: Callable[[pymysql.cursors.Cursor], T]) -> T:
        try:
            connection = self._connection()
            with connection.cursor() as cursor:
                return operation(cursor)
        except pymysql.Error as exc:
            # A failed connection may be half-way through a packet: never reuse it.
            self._discard()
            reason = describe(exc)
            log.warning("database unavailable: %s", reason)
            raise StoreUnavailable(reason) from exc

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None and not is_usable(connection):
            self._discard()
            connection = None
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    def _connect(self) -> Connection:
        s = self._settings
        connection = pymysql.connect(
            host=s.db_host,
            port=s.db_port,
            user=s.db_user,
            password=s.db_password,
            database=s.db_name,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=s.db_connect_timeout,
            read_timeout=s.db_connect_timeout,
            write_timeout=s.db_connect_timeout,
        )
        try:
            self._ensure_schema(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _ensure_schema(self, connection: Connection) -> None:
        # CREATE TABLE IF NOT EXISTS is safe when replicas race; the flag only
        # spares the statement on every later connection of this process.
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                with connection.cursor() as cursor:
                    cursor.execute(SCHEMA)
                self._schema_ready = True

    def _discard(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            # Already broken: closing is only tidying up.
            with contextlib.suppress(pymysql.Error):
                connection.close()


def is_usable(connection: Connection) -> bool:
    """True unless the server closed the connection or sent something unasked.

    Between requests the server never speaks first, so a readable socket means
    an EOF (the server went away or restarted) or an error packet (idle
    timeout, shutdown). Checking costs a poll() call, not a round trip.
    """
    # PyMySQL keeps the socket in a private attribute and has no accessor.
    sock = getattr(connection, "_sock", None)
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return not poller.poll(0)


def describe(exc: pymysql.Error) -> str:
    """A one-line reason that is safe to show: the server's message, no traceback.

    MariaDB messages name the user and host at most, never a password.
    """
    if len(exc.args) >= 2 and isinstance(exc.args[1], str):
        return " ".join(f"{exc.args[1]} (error {exc.args[0]})".split())
    return " ".join(str(exc).split()) or type(exc).__name__
