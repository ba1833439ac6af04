"""Visit storage in MariaDB/MySQL, for an app on an asyncio event loop.

Each worker process has one database connection, used only by one dedicated
thread (api/dedicated_thread.py): the event loop never blocks on the
database, and no other thread touches the connection. The connection is
checked for a server-side close before each use (without a round trip), so a
request never spends its visit on a connection the database dropped during an
outage.

Visits are group-committed on the event loop: while one batch is being
applied, visits that arrive meanwhile queue up and are then applied together,
by one atomic ``count = count + N`` statement followed by one read, and every
waiter gets that read. A lone visit is a batch of one. When a batch fails,
everything queued behind it fails at once with the same reason instead of
waiting for a timeout of its own; the next visit tries afresh.

Every batch stored, and every database operation's outcome (an error's
reason class, whether the database answered), goes to the app's metrics.

``/readyz`` never queues behind a batch: it checks with a short-lived
connection of its own, one check at a time however many probes ask.

The table heals: if it is dropped while replicas run, the next statement that
finds it missing creates it again and runs once more. A statement that failed
because its table did not exist changed nothing, so running it again counts
each visit exactly once. While the table cannot be created (a user without
the CREATE privilege), visits answer 503 and ``/readyz`` says not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
from collections.abc import Callable
from typing import Protocol, TypeAlias, TypeVar

import pymysql

from api.db_errors import describe
from api.dedicated_thread import DedicatedThread
from api.metrics import Metrics
from api.settings import Settings
from api.table import READ_COUNTS, RECORD_VISITS, TABLE_USABLE, execute_healing

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection: TypeAlias = "pymysql.connections.Connection[pymysql.cursors.Cursor]"

# Counts in display order: (replica name, visits).
Counts = list[tuple[str, int]]


class StoreUnavailable(Exception):
    """The database could not be reached or failed; safe to show as a reason."""


class VisitStore(Protocol):
    async def record_visit(self, replica: str) -> Counts:
        """Count one visit for ``replica``; return counts that include it."""
        ...

    async def counts(self) -> Counts:
        """Every replica's count, counting nothing."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers in time."""
        ...

    async def close(self) -> None:
        """Let go of the database: the app is shutting down."""
        ...


class _Batch:
    """Work waiting for the connection: visits for one replica, or (replica
    None) a read that counts nothing. Everyone in it shares one outcome.

    Each waiter has a future of its own (not one shared asyncio.Event, which
    costs a future per waiter anyway plus a list removal each): a waiter that
    is cancelled (its client went away) cancels only its own future, and the
    visit is still counted.
    """

    __slots__ = ("replica", "visits", "waiters")

    def __init__(self, replica: str | None) -> None:
        self.replica = replica
        self.visits = 0
        self.waiters: list[asyncio.Future[Counts]] = []

    def finish(self, result: Counts | None, error: BaseException | None) -> None:
        for waiter in self.waiters:
            if waiter.done():  # cancelled
                continue
            if result is not None:
                waiter.set_result(result)
            # Each waiter raises its own exception: one object raised in many
            # coroutines would share (and tangle) its traceback.
            elif isinstance(error, StoreUnavailable):
                waiter.set_exception(StoreUnavailable(str(error)))
            else:
                failure = RuntimeError("recording the visit failed")
                failure.__cause__ = error
                waiter.set_exception(failure)


class MariaDBStore:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        # The connection and the schema flag belong to the database thread.
        self._db_thread = DedicatedThread("database")
        self._connection: Connection | None = None
        self._schema_ready = False
        # Event-loop state: batches in arrival order, keyed by replica (None:
        # a plain read), and the task applying them one after another.
        self._queue: dict[str | None, _Batch] = {}
        self._runner: asyncio.Task[None] | None = None
        self._readiness: asyncio.Future[None] | None = None

    async def record_visit(self, replica: str) -> Counts:
        return await self._submit(replica)

    async def counts(self) -> Counts:
        return await self._submit(None)

    async def _submit(self, replica: str | None) -> Counts:
        loop = asyncio.get_running_loop()
        batch = self._queue.get(replica)
        if batch is None:
            batch = self._queue[replica] = _Batch(replica)
        if replica is not None:
            batch.visits += 1
        waiter: asyncio.Future[Counts] = loop.create_future()
        batch.waiters.append(waiter)
        if self._runner is None:
            self._runner = loop.create_task(self._apply_queue())
        return await waiter

    async def _apply_queue(self) -> None:
        """Apply queued batches, oldest first, one at a time, until none is left.

        A failed batch is never retried, so no visit can be applied twice. The
        batches queued behind it fail with it: the database just failed within
        the timeout, and waiting another timeout each would double their wait.
        """
        try:
            while self._queue:
                key = next(iter(self._queue))
                batch = self._queue.pop(key)
                try:
                    result = await self._db_thread.run(self._apply, batch.replica, batch.visits)
                except Exception as exc:
                    failed = [batch, *self._queue.values()]
                    self._queue.clear()
                    for each in failed:
                        each.finish(None, exc)
                else:
                    if batch.replica is not None:
                        # Before any waiter resumes: an answered visit is already counted.
                        self._metrics.visits_stored(batch.visits)
                    batch.finish(result, None)
        finally:
            self._runner = None

    def _apply(self, replica: str | None, visits: int) -> Counts:
        """On the database thread: one batch, one statement (if any) and one read."""

        def run(cursor: pymysql.cursors.Cursor) -> Counts:
            if replica is not None:
                execute_healing(cursor, RECORD_VISITS, (replica, visits, visits))
            execute_healing(cursor, READ_COUNTS)
            return [(name, int(count)) for name, count in cursor.fetchall()]

        return self._run(run)

    async def ping(self) -> None:
        # Concurrent probes share one check; none waits behind a visit batch.
        if self._readiness is None:
            check = asyncio.ensure_future(asyncio.to_thread(self._check_fresh_connection))
            check.add_done_callback(self._readiness_done)
            self._readiness = check
        try:
            await asyncio.shield(self._readiness)
        except StoreUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None

    def _readiness_done(self, check: asyncio.Future[None]) -> None:
        if self._readiness is check:
            self._readiness = None
        if not check.cancelled():
            check.exception()  # retrieved: no "never retrieved" warning

    def _check_fresh_connection(self) -> None:
        """On a throwaway thread: connect, check the table (healing it), close."""
        try:
            connection = self._open_connection()
            try:
                with connection.cursor() as cursor:
                    execute_healing(cursor, TABLE_USABLE)
            finally:
                with contextlib.suppress(pymysql.Error):
                    connection.close()
        except pymysql.Error as exc:
            self._metrics.database_failed(exc)
            raise StoreUnavailable(describe(exc)) from exc
        self._metrics.database_reached()

    async def close(self) -> None:
        """Close the connection (a COM_QUIT, so MariaDB sees a client leave
        rather than an aborted one) and stop the database thread."""
        await self._db_thread.run(self._discard)
        self._db_thread.stop()

    # Everything below runs on the database thread only.

    def _run(self, operation: Callable[[pymysql.cursors.Cursor], T]) -> T:
        try:
            connection = self._usable_connection()
            with connection.cursor() as cursor:
                result = operation(cursor)
        except pymysql.Error as exc:
            # A failed connection may be half-way through a packet: never reuse it.
            self._discard()
            self._metrics.database_failed(exc)
            reason = describe(exc)
            log.warning("database unavailable: %s", reason)
            raise StoreUnavailable(reason) from exc
        self._metrics.database_reached()
        return result

    def _usable_connection(self) -> Connection:
        if self._connection is not None and not is_usable(self._connection):
            self._discard()
        if self._connection is None:
            connection = self._open_connection()
            try:
                self._ensure_schema(connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _open_connection(self) -> Connection:
        s = self._settings
        return pymysql.connect(
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

    def _ensure_schema(self, connection: Connection) -> None:
        # Look before creating: a user without the CREATE privilege can use a
        # table that exists (CREATE TABLE IF NOT EXISTS would be refused), and
        # CREATE TABLE IF NOT EXISTS is safe when replicas race to make it.
        # The flag only spares the check on every later connection.
        if not self._schema_ready:
            with connection.cursor() as cursor:
                execute_healing(cursor, TABLE_USABLE)
            self._schema_ready = True

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # A broken connection may fail to say goodbye; that changes nothing.
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
